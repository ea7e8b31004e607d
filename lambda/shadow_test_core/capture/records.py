"""One record of SageMaker's data capture: a JSON Lines object, parsed and checked.

SageMaker writes each captured request and response as one line (documented format)::

    {"captureData": {"endpointInput": {"observedContentType": ..., "mode": "INPUT", "data": ..., "encoding": ...},
                     "endpointOutput": {"observedContentType": ..., "mode": "OUTPUT", "data": ..., "encoding": ...}},
     "eventMetadata": {"eventId": ..., "inferenceId": ... (when the caller passed InferenceId), "inferenceTime": ...},
     "eventVersion": "0"}

``encoding`` is ``CSV``, ``JSON`` or ``BASE64``; ``data`` is always a string. A line that breaks the
format raises :class:`CaptureFormatError` naming the file, the line and the field, so a user can open
the object and see what is wrong.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, NamedTuple, NoReturn

__all__ = [
    "ENCODINGS",
    "CaptureFormatError",
    "CaptureRecord",
    "CapturedPayload",
    "parse_inference_time",
    "parse_record",
    "parse_records",
]

#: The values of ``encoding`` SageMaker writes.
ENCODINGS = frozenset({"CSV", "JSON", "BASE64"})
_SUPPORTED_EVENT_VERSIONS = frozenset({"0"})
# One shared str per encoding: the shadow index holds millions of references, not copies.
_INTERNED = {name: sys.intern(name) for name in ENCODINGS}


class CaptureFormatError(ValueError):
    """A capture line that does not follow SageMaker's documented format.

    :param source: the object or file the line comes from (an ``s3://`` URI or a path).
    :param line: the line's number in it, from 1.
    :param field: the dotted path of the offending field (``captureData.endpointOutput.encoding``),
        or ``(line)`` when the line as a whole is wrong.
    :param problem: what is wrong, with the value found where it helps.
    """

    def __init__(self, *, source: str, line: int, field: str, problem: str) -> None:
        super().__init__(f"{source}, line {line}: {field}: {problem}")
        self.source = source
        self.line = line
        self.field = field
        self.problem = problem


# The two value objects below are NamedTuples, not frozen dataclasses: millions are made per
# comparison, and a NamedTuple is as immutable while being built in half the time.
class CapturedPayload(NamedTuple):
    """A request (``endpointInput``) or response (``endpointOutput``) as captured."""

    data: str
    encoding: str
    content_type: str | None = None


class CaptureRecord(NamedTuple):
    """One captured request and its response, with where it was read from.

    ``inference_time`` is in seconds since the epoch (UTC), a float to keep index entries small.
    """

    event_id: str
    inference_id: str | None
    inference_time: float
    request: CapturedPayload
    response: CapturedPayload
    source: str
    line: int


def parse_inference_time(text: str) -> float:
    """``inferenceTime`` (ISO 8601, e.g. ``2024-05-01T12:00:03Z``) as seconds since the epoch.

    A time without an offset is taken as UTC, which is what SageMaker writes.
    :raises ValueError: if the text is not an ISO 8601 time.
    """
    # datetime.fromisoformat accepts a trailing "Z" only from Python 3.11 on.
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _member(container: Any, key: str, path: str, fail: Any) -> Any:
    if not isinstance(container, dict):
        fail(path.rsplit(".", 1)[0], f"expected an object, got {type(container).__name__}")
    if key not in container:
        fail(path, "missing")
    return container[key]


def _payload(capture: Any, key: str, mode: str, fail: Any) -> CapturedPayload:
    base = f"captureData.{key}"
    section = _member(capture, key, base, fail)
    if not isinstance(section, dict):
        fail(base, f"expected an object, got {type(section).__name__}")
    data = _member(section, "data", f"{base}.data", fail)
    if not isinstance(data, str):
        fail(f"{base}.data", f"expected a string, got {type(data).__name__}")
    encoding = _member(section, "encoding", f"{base}.encoding", fail)
    interned = _INTERNED.get(encoding, "") if isinstance(encoding, str) else ""
    if not interned:
        fail(f"{base}.encoding", f"got {encoding!r}; allowed {', '.join(sorted(ENCODINGS))}")
    found_mode = section.get("mode", mode)
    if found_mode != mode:
        fail(f"{base}.mode", f"got {found_mode!r}; expected {mode!r}")
    content_type = section.get("observedContentType")
    if content_type is not None and not isinstance(content_type, str):
        fail(f"{base}.observedContentType", f"expected a string, got {type(content_type).__name__}")
    return CapturedPayload(data=data, encoding=interned, content_type=content_type)


def parse_record(line: bytes | str, *, source: str, line_number: int) -> CaptureRecord:
    """Parse one capture line.

    :param source: where the line comes from, for error messages.
    :param line_number: its number in ``source``, from 1.
    :raises CaptureFormatError: naming ``source``, ``line_number`` and the field that is wrong.
    """
    # The fast path takes a well-formed line with a few lookups and type checks; anything unexpected
    # goes to the careful path, which checks field by field to name what is wrong.
    try:
        # SageMaker writes UTF-8; decoding first spares json the sniffing of the encoding of bytes.
        document = json.loads(line if isinstance(line, str) else line.decode())
        capture = document["captureData"]
        given, answered, metadata = capture["endpointInput"], capture["endpointOutput"], document["eventMetadata"]
        request = CapturedPayload(given["data"], _INTERNED[given["encoding"]], given.get("observedContentType"))
        response = CapturedPayload(
            answered["data"], _INTERNED[answered["encoding"]], answered.get("observedContentType")
        )
        event_id, inference_id = metadata["eventId"], metadata.get("inferenceId")
        inference_time = parse_inference_time(metadata["inferenceTime"])
        well_formed = (
            type(request.data) is str
            and type(response.data) is str
            and type(event_id) is str
            and (inference_id is None or type(inference_id) is str)
            and given.get("mode", "INPUT") == "INPUT"
            and answered.get("mode", "OUTPUT") == "OUTPUT"
            and (request.content_type is None or type(request.content_type) is str)
            and (response.content_type is None or type(response.content_type) is str)
            and document.get("eventVersion", "0") in _SUPPORTED_EVENT_VERSIONS
        )
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        well_formed = False
    if not well_formed:
        return _parse_record_checked(line, source=source, line_number=line_number)
    # An empty InferenceId is no id: pair such records by their body.
    return CaptureRecord(event_id, inference_id or None, inference_time, request, response, source, line_number)


def _parse_record_checked(line: bytes | str, *, source: str, line_number: int) -> CaptureRecord:
    def fail(field: str, problem: str) -> NoReturn:
        raise CaptureFormatError(source=source, line=line_number, field=field, problem=problem)

    try:
        document = json.loads(line)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        fail("(line)", f"not a JSON object: {error}")
    if not isinstance(document, dict):
        fail("(line)", f"expected a JSON object, got {type(document).__name__}")
    version = document.get("eventVersion", "0")
    if version not in _SUPPORTED_EVENT_VERSIONS:
        fail("eventVersion", f"got {version!r}; supported {', '.join(sorted(_SUPPORTED_EVENT_VERSIONS))}")
    capture = _member(document, "captureData", "captureData", fail)
    request = _payload(capture, "endpointInput", "INPUT", fail)
    response = _payload(capture, "endpointOutput", "OUTPUT", fail)
    metadata = _member(document, "eventMetadata", "eventMetadata", fail)
    event_id = _member(metadata, "eventId", "eventMetadata.eventId", fail)
    if not isinstance(event_id, str):
        fail("eventMetadata.eventId", f"expected a string, got {type(event_id).__name__}")
    inference_id = metadata.get("inferenceId")
    if inference_id is not None and not isinstance(inference_id, str):
        fail("eventMetadata.inferenceId", f"expected a string, got {type(inference_id).__name__}")
    moment = _member(metadata, "inferenceTime", "eventMetadata.inferenceTime", fail)
    try:
        inference_time = parse_inference_time(moment)
    except (TypeError, ValueError, AttributeError):
        fail("eventMetadata.inferenceTime", f"expected an ISO 8601 time, got {moment!r}")
    return CaptureRecord(
        event_id=event_id,
        # An empty InferenceId is no id: pair such records by their body.
        inference_id=inference_id or None,
        inference_time=inference_time,
        request=request,
        response=response,
        source=source,
        line=line_number,
    )


def parse_records(lines: Iterable[tuple[str, int, bytes]]) -> Iterator[CaptureRecord]:
    """Parse ``(source, line number, line)`` triples, skipping blank lines."""
    for source, line_number, line in lines:
        if line.strip():
            yield parse_record(line, source=source, line_number=line_number)
