"""The embedded engine of ``shadow-test compare``: the core's pairing query, transpiled by sqlglot, run by DuckDB.

The capture is read from local files. An S3 capture is first copied by boto3, object by object in
1 MiB chunks, into a temporary directory (deleted afterwards), rather than read by DuckDB's ``httpfs``:

- ``httpfs`` is not in DuckDB's Python wheel: DuckDB downloads it from its own extension host at first
  use, which fails offline, in a VPC without internet access, and on a locked-down CI runner;
- boto3 resolves credentials as every other ``shadow-test`` command does (profiles, SSO,
  ``credential_process``, ``AWS_ENDPOINT_URL_S3``), where ``httpfs`` needs a secret of its own;
- an S3 or KMS refusal is reported by :class:`~shadow_test_core.capture.source.S3Capture` naming the
  missing permission and ``grant_read_capture``, not as a bare HTTP 403.

The price is local disk for one copy of the capture (a compressed Athena query is the tool beyond that).
DuckDB reads each file whole (``read_text``) and splits it into numbered lines, so examples and
errors name the file and line as the streaming path does.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from shadow_test_core.capture.pairing import CompareOptions, PairingSummary
from shadow_test_core.capture.query import RECORD_COLUMNS, VariantView, pairing_query, read_result, recheck_record
from shadow_test_core.capture.source import CaptureObject, CaptureSource, S3Capture

__all__ = ["EXTRA", "EngineMissing", "Variants", "run_duckdb", "transpile"]

#: The package extra that installs the embedded engine.
EXTRA = "compare"

# Fields of a capture line, as DuckDB JSON paths, in RECORD_COLUMNS' order after source and line.
_FIELDS = (
    "$.eventMetadata.eventId",
    "$.eventMetadata.inferenceId",
    "$.eventMetadata.inferenceTime",
    "$.captureData.endpointInput.encoding",
    "$.captureData.endpointInput.data",
    "$.captureData.endpointOutput.encoding",
    "$.captureData.endpointOutput.data",
)
# What else the parser checks; a line failing any of it gets no event_id, so the query flags it.
_OPTIONAL_STRINGS = (
    "$.eventMetadata.inferenceId",
    "$.captureData.endpointInput.observedContentType",
    "$.captureData.endpointOutput.observedContentType",
)
_OPTIONAL_VALUES = {
    "$.eventVersion": "0",
    "$.captureData.endpointInput.mode": "INPUT",
    "$.captureData.endpointOutput.mode": "OUTPUT",
}


class EngineMissing(RuntimeError):
    """DuckDB or sqlglot is not installed; the message names the package extra."""


def _import_engine() -> tuple[Any, Any]:
    try:
        import duckdb
        import sqlglot
    except ImportError as error:
        raise EngineMissing(
            f"the embedded engine needs DuckDB and sqlglot ({error.name} is missing): "
            f"pip install 'cdk-sagemaker-shadow-test[{EXTRA}]', or pass --engine stream"
        ) from None
    return duckdb, sqlglot


def transpile(query: str) -> str:
    """The core's Trino query in DuckDB's dialect."""
    _duckdb, sqlglot = _import_engine()
    return str(sqlglot.transpile(query, read="trino", write="duckdb")[0])


@dataclass(frozen=True, kw_only=True)
class Variants:
    """Each variant's objects: the production variant's name and objects, then the shadow's."""

    production: str
    shadow: str
    production_objects: list[CaptureObject]
    shadow_objects: list[CaptureObject]


def _string(path: str) -> str:
    return f"json_extract_string(text, '{path}')"


def _view_sql(files: str) -> str:
    checks = [
        "json_type(text) = 'OBJECT'",
        *(f"json_type(text, '{path}') = 'VARCHAR'" for path in _FIELDS if "inferenceId" not in path),
        *(f"coalesce(json_type(text, '{path}') IN ('VARCHAR', 'NULL'), true)" for path in _OPTIONAL_STRINGS),
        *(
            f"coalesce({_string(path)} = '{value}', json_type(text, '{path}') IS NULL)"
            for path, value in _OPTIONAL_VALUES.items()
        ),
    ]
    fields = [
        f"CASE WHEN {' AND '.join(checks)} THEN {_string(_FIELDS[0])} END AS event_id",
        *(f"{_string(path)} AS {column}" for path, column in zip(_FIELDS[1:], RECORD_COLUMNS[3:], strict=True)),
    ]
    # A line that is not JSON is kept (with every field NULL) for the query to flag.
    return (
        f"CREATE VIEW capture AS SELECT variant, source, line, {', '.join(fields)} FROM ("
        f"SELECT f.variant, f.source, l.line, CASE WHEN json_valid(l.text) THEN l.text END AS text, l.raw FROM ("
        f"SELECT filename, unnest(generate_series(1, len(parts))) AS line, unnest(parts) AS raw, "
        f"unnest(parts) AS text FROM (SELECT filename, string_split(content, chr(10)) AS parts "
        f"FROM read_text({files}))) l JOIN files f ON f.path = l.filename "
        f"WHERE trim(l.raw, ' \t\r') <> '')"
    )


@contextmanager
def _local_copies(
    source: CaptureSource, variants: Variants, on_bytes: Callable[[int], None]
) -> Iterator[dict[str, str]]:
    """Each object's local path -> the name messages show (a copy in a temporary directory for S3)."""
    objects = variants.production_objects + variants.shadow_objects
    if not isinstance(source, S3Capture):
        for item in objects:
            on_bytes(item.size)
        yield {item.key: item.name for item in objects}
        return
    with tempfile.TemporaryDirectory(prefix="shadow-test-compare-") as directory:
        names = {}
        for number, item in enumerate(objects):
            path = os.path.join(directory, f"{number:08d}.jsonl")
            with open(path, "wb") as stream:
                for chunk in source.chunks(item, on_bytes):
                    stream.write(chunk)
            names[path] = item.name
        yield names


def _labels_table(connection: Any, labels: Mapping[str, Any], directory: str) -> None:
    import json

    path = os.path.join(directory, "labels.jsonl")
    with open(path, "w", encoding="utf-8") as stream:
        for inference_id, label in labels.items():
            stream.write(json.dumps({"inference_id": inference_id, "label": json.dumps(label)}) + "\n")
    connection.execute(
        "CREATE TABLE labels AS SELECT * FROM read_json(?, columns={'inference_id': 'VARCHAR', 'label': 'VARCHAR'}, "
        "format='newline_delimited')",
        [path],
    )


def run_duckdb(
    source: CaptureSource,
    variants: Variants,
    *,
    options: CompareOptions,
    labels: Mapping[str, Any] | None,
    on_bytes: Callable[[int], None],
    memory_limit: str | None = None,
) -> PairingSummary:
    """Run the pairing query over the capture with DuckDB; the same summary as ``compare_variants``.

    :param memory_limit: DuckDB's ``memory_limit`` (beyond it, it spills to a temporary directory).
        Default: DuckDB's (80 % of the machine's memory).
    :raises EngineMissing: if DuckDB or sqlglot is not installed.
    :raises CaptureFormatError: on a malformed record, naming file, line and field.
    :raises UnsupportedInSql: for an ``--output-path`` that has no SQL form.
    """
    duckdb, _sqlglot = _import_engine()
    query = transpile(
        pairing_query(
            VariantView(name="capture"),
            production_variant=variants.production,
            shadow_variant=variants.shadow,
            options=options,
            labels=None if labels is None else "labels",
        )
    )
    with (
        _local_copies(source, variants, on_bytes) as names,
        tempfile.TemporaryDirectory(prefix="shadow-test-duckdb-") as scratch,
    ):
        connection = duckdb.connect(config={"temp_directory": scratch})
        try:
            if memory_limit is not None:
                connection.execute(f"SET memory_limit = '{memory_limit}'")
            shadow = {item.name for item in variants.shadow_objects}
            rows = [
                (path, name, variants.shadow if name in shadow else variants.production) for path, name in names.items()
            ]
            connection.execute("CREATE TABLE files (path VARCHAR, source VARCHAR, variant VARCHAR)")
            connection.executemany("INSERT INTO files VALUES (?, ?, ?)", rows)
            paths = "[" + ", ".join("'" + path.replace("'", "''") + "'" for path in names) + "]"
            connection.execute(_view_sql(paths))
            if labels is not None:
                _labels_table(connection, labels, scratch)
            result = read_result(connection.execute(query).fetchall(), options=options, labels_given=labels is not None)
        finally:
            connection.close()
        if result.suspect is not None:
            suspect = result.suspect
            path = next(path for path, name in names.items() if name == suspect.source)
            line_number = int(suspect.line or 0)
            with open(path, "rb") as stream:
                line = stream.read().split(b"\n")[line_number - 1]
            recheck_record(line, source=suspect.source, line_number=line_number, options=options)
    assert result.summary is not None
    return result.summary
