"""Capture sources: a local directory and S3 served by moto's server mode; S3/KMS refusals explained."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from shadow_test_core.capture import source as capture_source
from shadow_test_core.capture.pairing import compare_variants
from shadow_test_core.capture.records import parse_records
from shadow_test_core.capture.source import (
    CaptureAccessError,
    CaptureLocation,
    CaptureNotFoundError,
    CaptureSource,
    open_capture,
)
from tests.capture_factory import Exchange, at, write_variant

BUCKET = "capture-bucket"


def _exchanges(variant: str, hours: int = 2, per_hour: int = 5) -> list[Exchange]:
    return [
        Exchange(request=f"r{h}-{i}", response=f"{variant}-{h}-{i}", at=at(h * 3600 + i), inference_id=f"{h}-{i}")
        for h in range(hours)
        for i in range(per_hour)
    ]


@pytest.fixture(scope="module")
def local_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("capture")
    write_variant(root, "ep", "prod", _exchanges("prod"), per_file=3)
    write_variant(root, "ep", "shadow", _exchanges("shadow"), per_file=3)
    return root


@pytest.fixture(scope="module")
def s3_server(local_capture: Path) -> Iterator[Any]:
    """moto's S3 on 127.0.0.1 holding the local capture under s3://capture-bucket/data-capture/."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    for path in local_capture.rglob("*.jsonl"):
        client.put_object(Bucket=BUCKET, Key=f"data-capture/{path.relative_to(local_capture)}", Body=path.read_bytes())
    yield client
    server.stop()


def _read_all(source: CaptureSource, variant: str) -> list[tuple[str, int, bytes]]:
    return [line for item in source.objects("ep", variant) for line in source.lines(item, lambda _size: None)]


def test_local_directory_lists_a_variants_objects_in_time_order(local_capture: Path) -> None:
    source = open_capture(CaptureLocation(uri=str(local_capture)), s3_client=pytest.fail)
    objects = source.objects("ep", "prod")
    assert [Path(o.name).relative_to(local_capture).as_posix() for o in objects] == [
        "ep/prod/2024/05/01/12/part-00000.jsonl",
        "ep/prod/2024/05/01/12/part-00001.jsonl",
        "ep/prod/2024/05/01/13/part-00000.jsonl",
        "ep/prod/2024/05/01/13/part-00001.jsonl",
    ]
    assert all(o.size > 0 for o in objects)


def test_s3_and_local_copies_yield_the_same_records(local_capture: Path, s3_server: Any) -> None:
    local = open_capture(CaptureLocation(uri=str(local_capture)), s3_client=pytest.fail)
    remote = open_capture(CaptureLocation(uri=f"s3://{BUCKET}/data-capture/"), s3_client=lambda: s3_server)
    local_lines = _read_all(local, "shadow")
    remote_lines = _read_all(remote, "shadow")
    assert [line for _name, _n, line in remote_lines] == [line for _name, _n, line in local_lines]
    assert remote_lines[0][0] == f"s3://{BUCKET}/data-capture/ep/shadow/2024/05/01/12/part-00000.jsonl"
    assert [n for _name, n, _line in remote_lines[:4]] == [1, 2, 3, 1]


def test_pairing_from_s3_reads_every_record(s3_server: Any) -> None:
    source = open_capture(CaptureLocation(uri=f"s3://{BUCKET}/data-capture"), s3_client=lambda: s3_server)
    summary = compare_variants(parse_records(_read_all(source, "prod")), parse_records(_read_all(source, "shadow")))
    assert (summary.pairs, summary.paired_by_inference_id, summary.agreements) == (10, 10, 0)


def test_s3_listing_follows_every_page(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_source, "_LIST_PAGE_SIZE", 2)
    source = open_capture(CaptureLocation(uri=f"s3://{BUCKET}/data-capture"), s3_client=lambda: s3_server)
    assert len(source.objects("ep", "prod")) == 4


@pytest.mark.parametrize("where", ["local", "s3"])
def test_missing_variant_names_the_variants_that_are_there(where: str, local_capture: Path, s3_server: Any) -> None:
    uri = str(local_capture) if where == "local" else f"s3://{BUCKET}/data-capture"
    source = open_capture(CaptureLocation(uri=uri), s3_client=lambda: s3_server)
    with pytest.raises(CaptureNotFoundError, match=r"variant 'shadw' .* \(variants there: prod, shadow\)"):
        source.objects("ep", "shadw")


def test_missing_local_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CaptureNotFoundError, match="does not exist"):
        open_capture(CaptureLocation(uri=str(tmp_path / "nowhere")), s3_client=pytest.fail)


def test_lines_split_across_chunks_are_joined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_source, "_CHUNK_BYTES", 7)
    write_variant(tmp_path, "ep", "v", _exchanges("v", hours=1, per_hour=3))
    source = open_capture(CaptureLocation(uri=str(tmp_path)), s3_client=pytest.fail)
    seen: list[int] = []
    records = list(
        parse_records(line for item in source.objects("ep", "v") for line in source.lines(item, seen.append))
    )
    assert [r.inference_id for r in records] == ["0-0", "0-1", "0-2"]
    assert set(seen) <= {7} | set(range(7))
    assert sum(seen) == source.objects("ep", "v")[0].size


def test_last_line_without_newline_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "ep" / "v" / "2024" / "05" / "01" / "12"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(b"one\ntwo")
    source = open_capture(CaptureLocation(uri=str(tmp_path)), s3_client=pytest.fail)
    assert [(n, line) for _name, n, line in _read_all(source, "v")] == [(1, b"one"), (2, b"two")]


# -- refusals: botocore's Stubber answers as S3 does when IAM or KMS says no ---------------


def _stubbed(kms_key: str | None = None) -> tuple[CaptureSource, Stubber]:
    client = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(client)
    location = CaptureLocation(uri="s3://cap/prefix", kms_key=kms_key)
    return open_capture(location, s3_client=lambda: client), stubber


def test_list_refused_names_list_bucket_on_the_bucket_and_prefix() -> None:
    source, stubber = _stubbed()
    stubber.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", 403)
    with stubber, pytest.raises(CaptureAccessError) as caught:
        source.objects("ep", "prod")
    message = str(caught.value)
    assert "s3:ListBucket on arn:aws:s3:::cap (prefix prefix/ep/prod/)" in message
    assert "grant_read_capture" in message


def _one_object(stubber: Stubber) -> None:
    stubber.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": "prefix/ep/prod/2024/05/01/12/a.jsonl", "Size": 10}], "IsTruncated": False},
        {"Bucket": "cap", "Prefix": "prefix/ep/prod/", "MaxKeys": 1000},
    )


def test_get_refused_names_get_object_on_the_object() -> None:
    source, stubber = _stubbed()
    _one_object(stubber)
    stubber.add_client_error("get_object", "AccessDenied", "Access Denied", 403)
    with stubber, pytest.raises(CaptureAccessError) as caught:
        _read_all(source, "prod")
    assert "s3:GetObject on arn:aws:s3:::cap/prefix/ep/prod/2024/05/01/12/a.jsonl" in str(caught.value)


def test_kms_refusal_names_decrypt_on_the_capture_key() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    source, stubber = _stubbed(kms_key=key)
    _one_object(stubber)
    stubber.add_client_error(
        "get_object",
        "AccessDenied",
        "User: arn:aws:iam::123456789012:user/ana is not authorized to perform: kms:Decrypt on this resource",
        403,
    )
    with stubber, pytest.raises(CaptureAccessError) as caught:
        _read_all(source, "prod")
    assert "KMS refused the decryption needed to read s3://cap/prefix/ep/prod/2024/05/01/12/a.jsonl" in str(
        caught.value
    )
    assert f"the caller needs kms:Decrypt on {key}" in str(caught.value)


def test_missing_bucket_is_not_found() -> None:
    source, stubber = _stubbed()
    stubber.add_client_error("list_objects_v2", "NoSuchBucket", "The specified bucket does not exist", 404)
    with stubber, pytest.raises(CaptureNotFoundError, match="NoSuchBucket"):
        source.objects("ep", "prod")


def test_bucket_named_like_kms_is_not_a_kms_refusal() -> None:
    source, stubber = _stubbed()
    stubber.add_client_error("list_objects_v2", "AccessDenied", "not authorized on arn:aws:s3:::kms-capture", 403)
    with stubber, pytest.raises(CaptureAccessError, match="s3:ListBucket"):
        source.objects("ep", "prod")
