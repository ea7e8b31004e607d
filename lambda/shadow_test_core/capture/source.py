"""Where the captured records are: S3 (boto3) or a local directory with the same layout.

SageMaker writes ``{Destination}/{endpoint name}/{variant name}/yyyy/mm/dd/hh/*.jsonl``. Both sources
list one variant's ``.jsonl`` objects in key order (chronological: the date parts are zero-padded)
and stream their lines in chunks, so no object is ever held in memory whole. When S3 or KMS refuses,
:class:`CaptureAccessError` says which permission is missing on what.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

__all__ = [
    "CaptureAccessError",
    "CaptureLocation",
    "CaptureNotFoundError",
    "CaptureObject",
    "CaptureSource",
    "LocalCapture",
    "S3Capture",
    "open_capture",
]

_CHUNK_BYTES = 1 << 20
_LIST_PAGE_SIZE = 1000  # ListObjectsV2's largest page
_SUFFIX = ".jsonl"
_GRANT_HINT = "ShadowTestExperiment.grant_read_capture(grantee) grants it"


class CaptureAccessError(PermissionError):
    """S3 or KMS refused a read; the message names the permission and the resource."""


class CaptureNotFoundError(FileNotFoundError):
    """No capture where one was expected (no bucket, directory or ``.jsonl`` object)."""


@dataclass(frozen=True, kw_only=True)
class CaptureLocation:
    """A capture destination: ``s3://bucket/prefix`` or a local directory.

    :param kms_key: the key SageMaker encrypts the capture with, when known (named in errors).
    """

    uri: str
    kms_key: str | None = None

    @property
    def is_s3(self) -> bool:
        """Whether the capture is in S3."""
        return self.uri.startswith("s3://")

    @property
    def bucket(self) -> str:
        """The bucket of an S3 location."""
        return self.uri[len("s3://") :].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """The key prefix of an S3 location, without slashes at either end."""
        parts = self.uri[len("s3://") :].split("/", 1)
        return parts[1].strip("/") if len(parts) > 1 else ""


@dataclass(frozen=True, kw_only=True)
class CaptureObject:
    """One ``.jsonl`` object or file. ``name`` is what messages show (an ``s3://`` URI or a path)."""

    name: str
    key: str
    size: int


class CaptureSource(Protocol):
    """A place holding SageMaker's capture layout."""

    def objects(self, endpoint: str, variant: str) -> list[CaptureObject]:
        """One variant's ``.jsonl`` objects in key order; raises CaptureNotFoundError when it has none."""

    def lines(self, item: CaptureObject, on_bytes: Callable[[int], None]) -> Iterator[tuple[str, int, bytes]]:
        """``(name, line number, line)`` of one object; ``on_bytes`` is told of every chunk read."""


def _split_lines(
    name: str, chunks: Iterable[bytes], on_bytes: Callable[[int], None]
) -> Iterator[tuple[str, int, bytes]]:
    rest = b""
    number = 0
    for chunk in chunks:
        on_bytes(len(chunk))
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            number += 1
            yield name, number, line
    if rest:
        yield name, number + 1, rest


def _missing_variant(where: str, variant: str, found: list[str]) -> CaptureNotFoundError:
    listing = ", ".join(found) if found else "none"
    return CaptureNotFoundError(
        f"no {_SUFFIX} capture of variant {variant!r} under {where} (variants there: {listing})"
    )


class LocalCapture:
    """A capture copied to a local directory (``aws s3 cp --recursive s3://.../prefix DIR``)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise CaptureNotFoundError(f"capture directory {root} does not exist")
        self._root = root

    def objects(self, endpoint: str, variant: str) -> list[CaptureObject]:
        """See :class:`CaptureSource`."""
        folder = self._root / endpoint / variant
        files = sorted(folder.rglob(f"*{_SUFFIX}")) if folder.is_dir() else []
        if not files:
            parent = self._root / endpoint
            found = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []
            raise _missing_variant(str(parent), variant, found)
        return [CaptureObject(name=str(path), key=str(path), size=path.stat().st_size) for path in files]

    def lines(self, item: CaptureObject, on_bytes: Callable[[int], None]) -> Iterator[tuple[str, int, bytes]]:
        """See :class:`CaptureSource`."""
        with open(item.key, "rb") as stream:
            yield from _split_lines(item.name, iter(lambda: stream.read(_CHUNK_BYTES), b""), on_bytes)


class S3Capture:
    """A capture in S3, read with ``ListObjectsV2`` (paginated) and streamed ``GetObject``."""

    def __init__(self, location: CaptureLocation, client: Any) -> None:
        self._location = location
        self._client = client

    def _prefix(self, *parts: str) -> str:
        return "/".join(p for p in (self._location.prefix, *parts) if p) + "/"

    def _refused(self, error: ClientError, *, action: str, resource: str, what: str) -> Exception:
        details = error.response.get("Error", {})
        code, message = str(details.get("Code", "")), str(details.get("Message", error))
        # S3 reports a refused decryption as AccessDenied naming a kms: action (or as KMS.* codes).
        if code.startswith("KMS") or "kms:" in message.lower():
            key = self._location.kms_key or "the key that encrypts it"
            return CaptureAccessError(
                f"KMS refused the decryption needed to {what} ({code}: {message}): the caller needs kms:Decrypt on {key}; "
                f"{_GRANT_HINT}"
            )
        if code in {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"}:
            return CaptureAccessError(
                f"S3 refused to {what} ({code}: {message}): the caller needs {action} on {resource}; {_GRANT_HINT}"
            )
        if code in {"NoSuchBucket", "NoSuchKey", "404"}:
            return CaptureNotFoundError(f"cannot {what}: {code}: {message}")
        return error

    def _list(self, prefix: str, *, delimiter: bool) -> Iterator[dict[str, Any]]:
        bucket = self._location.bucket
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "PaginationConfig": {"PageSize": _LIST_PAGE_SIZE}}
        if delimiter:
            kwargs["Delimiter"] = "/"
        try:
            yield from self._client.get_paginator("list_objects_v2").paginate(**kwargs)
        except ClientError as error:
            raise self._refused(
                error,
                action="s3:ListBucket",
                resource=f"arn:aws:s3:::{bucket} (prefix {prefix})",
                what=f"list s3://{bucket}/{prefix}",
            ) from None

    def objects(self, endpoint: str, variant: str) -> list[CaptureObject]:
        """See :class:`CaptureSource`."""
        bucket = self._location.bucket
        found = [
            CaptureObject(name=f"s3://{bucket}/{entry['Key']}", key=entry["Key"], size=int(entry.get("Size", 0)))
            for page in self._list(self._prefix(endpoint, variant), delimiter=False)
            for entry in page.get("Contents", ())
            if entry["Key"].endswith(_SUFFIX)
        ]
        if not found:
            parent = self._prefix(endpoint)
            variants = [
                entry["Prefix"][len(parent) :].rstrip("/")
                for page in self._list(parent, delimiter=True)
                for entry in page.get("CommonPrefixes", ())
            ]
            raise _missing_variant(f"s3://{bucket}/{parent}", variant, sorted(variants))
        return sorted(found, key=lambda item: item.key)

    def lines(self, item: CaptureObject, on_bytes: Callable[[int], None]) -> Iterator[tuple[str, int, bytes]]:
        """See :class:`CaptureSource`."""
        yield from _split_lines(item.name, self.chunks(item, lambda _size: None), on_bytes)

    def chunks(self, item: CaptureObject, on_bytes: Callable[[int], None]) -> Iterator[bytes]:
        """One object's bytes, streamed in 1 MiB chunks; ``on_bytes`` is told of every chunk."""
        bucket = self._location.bucket
        try:
            body = self._client.get_object(Bucket=bucket, Key=item.key)["Body"]
            try:
                for chunk in body.iter_chunks(_CHUNK_BYTES):
                    on_bytes(len(chunk))
                    yield chunk
            finally:
                body.close()
        except ClientError as error:
            raise self._refused(
                error, action="s3:GetObject", resource=f"arn:aws:s3:::{bucket}/{item.key}", what=f"read {item.name}"
            ) from None


def open_capture(location: CaptureLocation, *, s3_client: Callable[[], Any]) -> CaptureSource:
    """The source for ``location``; ``s3_client`` makes the boto3 client, only for an S3 location."""
    if location.is_s3:
        if not location.bucket:
            raise ValueError(f"capture location {location.uri!r} names no bucket")
        return S3Capture(location, s3_client())
    return LocalCapture(Path(location.uri))
