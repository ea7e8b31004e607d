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

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadow_test_core.capture.ground_truth import read_labels
from shadow_test_core.capture.pairing import CompareOptions, PairingSummary
from shadow_test_core.capture.query import RECORD_COLUMNS, VariantView, check_record, pairing_query, read_result
from shadow_test_core.capture.source import CaptureObject, CaptureSource, S3Capture

__all__ = ["EXTRA", "EngineMissing", "Variants", "run_duckdb", "transpile"]

#: The package extra that installs the embedded engine.
EXTRA = "compare"

# The columns read_json reads (its typed parser: one pass over each line).
_CAPTURE_COLUMNS = (
    "{captureData: 'STRUCT(endpointInput STRUCT(data VARCHAR, encoding VARCHAR), "
    "endpointOutput STRUCT(data VARCHAR, encoding VARCHAR))', "
    "eventMetadata: 'STRUCT(eventId VARCHAR, inferenceId VARCHAR, inferenceTime VARCHAR)'}"
)


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


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view_sql(files: Mapping[str, list[str]]) -> str:
    """The ``capture`` table: each variant's files read once by read_json (the query reads them several times).

    ``line`` is the record's position in the scan (files in key order, lines in order): it orders the
    examples; their line numbers are counted afterwards (:func:`_line_of`), blank lines included.
    """
    branches = []
    for variant, paths in files.items():
        listed = "[" + ", ".join(_literal(path) for path in paths) + "]"
        branches.append(
            f"SELECT {_literal(variant)} AS variant, filename, row_number() OVER () AS line, "
            "eventMetadata.eventId AS event_id, eventMetadata.inferenceId AS inference_id, "
            "eventMetadata.inferenceTime AS inference_time, "
            "captureData.endpointInput.encoding AS request_encoding, captureData.endpointInput.data AS request_data, "
            "captureData.endpointOutput.encoding AS response_encoding, "
            "captureData.endpointOutput.data AS response_data "
            f"FROM read_json({listed}, columns={_CAPTURE_COLUMNS}, format='newline_delimited', filename=true)"
        )
    columns = ", ".join(("c.variant", "f.source", *(f"c.{column}" for column in RECORD_COLUMNS[1:])))
    return (
        f"CREATE TABLE capture AS SELECT {columns} FROM ({' UNION ALL '.join(branches)}) c "
        "JOIN files f ON f.path = c.filename"
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


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return [name.strip() for name in next(csv.reader(stream), [])]


def _label_rows(path: Path) -> str:
    """A query of ``(inference_id, label as JSON text)`` of a ground-truth file, as ``read_labels`` reads it."""
    with path.open("rb") as stream:
        head = stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return (
            f"SELECT inference_id, CAST(label AS VARCHAR) AS label FROM read_json({_literal(str(path))}, "
            "columns={inference_id: 'VARCHAR', label: 'JSON'}, format='newline_delimited')"
        )
    header = _csv_header(path)
    names = {name: f"c{number}" for number, name in reversed(list(enumerate(header)))}
    columns = "{" + ", ".join(f"'c{number}': 'VARCHAR'" for number in range(len(header))) + "}"
    return (
        f"SELECT trim({names['inference_id']}) AS inference_id, to_json(trim({names['label']}))::VARCHAR AS label "
        f"FROM read_csv({_literal(str(path))}, header=false, skip=1, columns={columns}, delim=',', quote='\"', "
        "escape='\"', strict_mode=true, null_padding=false) "
        f"WHERE NOT ({' AND '.join(f'coalesce(trim(c{n}), {_literal(chr(0))}) IN ({_literal(chr(0))}, {_literal(str())})' for n in range(len(header)))})"
    )


def _labels_table(connection: Any, path: Path, duckdb: Any) -> None:
    """``labels (inference_id, label)``: read by DuckDB; on anything odd, ``read_labels`` says what is wrong."""
    try:
        connection.execute(f"CREATE TABLE label_rows AS {_label_rows(path)}")
        conflicts, empty = connection.execute(
            "SELECT (SELECT count(*) FROM (SELECT inference_id FROM label_rows GROUP BY inference_id "
            "HAVING count(DISTINCT label) > 1)), (SELECT count(*) FROM label_rows "
            "WHERE inference_id IS NULL OR inference_id = '' OR label IS NULL)"
        ).fetchone()
        trusted = conflicts == 0 and empty == 0
    except (duckdb.Error, KeyError, StopIteration):
        trusted = False
    if trusted:
        connection.execute(
            "CREATE TABLE labels AS SELECT inference_id, max(label) AS label FROM label_rows GROUP BY inference_id"
        )
        return
    # The reader raises naming the line and field; labels it accepts (ids repeating an equal label) are loaded.
    labels = read_labels(path)
    connection.execute("CREATE OR REPLACE TABLE labels (inference_id VARCHAR, label VARCHAR)")
    connection.executemany(
        "INSERT INTO labels VALUES (?, ?)", [(key, json.dumps(value)) for key, value in labels.items()]
    )


def _recheck_file(path: str, name: str, options: CompareOptions) -> None:
    """Parse a file as the streaming path does: raises its CaptureFormatError at the first malformed line."""
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                check_record(line, source=name, line_number=number, options=options)
    raise RuntimeError(f"DuckDB could not read {name}, but every line of it parses: please report this")


def _line_of(path: str, event_id: str) -> int:
    """The number of the line (from 1, blank lines counted) holding ``event_id``; 0 if none does."""
    needle = json.dumps(event_id).encode()
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            if needle in line:
                return number
    return 0


def run_duckdb(
    source: CaptureSource,
    variants: Variants,
    *,
    options: CompareOptions,
    labels: Path | None,
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
        paths = {name: path for path, name in names.items()}
        files = {
            variant: [paths[item.name] for item in objects]
            for variant, objects in (
                (variants.production, variants.production_objects),
                (variants.shadow, variants.shadow_objects),
            )
        }
        # A database file, not memory: DuckDB keeps the capture's columns compressed there and spills.
        connection = duckdb.connect(os.path.join(scratch, "capture.duckdb"), config={"temp_directory": scratch})
        try:
            if memory_limit is not None:
                connection.execute(f"SET memory_limit = {_literal(memory_limit)}")
            connection.execute("CREATE TABLE files (path VARCHAR, source VARCHAR)")
            connection.executemany("INSERT INTO files VALUES (?, ?)", list(names.items()))
            connection.execute(_view_sql(files))
            if labels is not None:
                _labels_table(connection, labels, duckdb)
            try:
                rows = connection.execute(query).fetchall()
            except duckdb.InvalidInputException as error:
                # read_json refuses a line that is not a JSON object, naming its file.
                unreadable = [path for path in names if f'"{path}"' in str(error)]
                if not unreadable:
                    raise
                _recheck_file(unreadable[0], names[unreadable[0]], options)
        finally:
            connection.close()
        result = read_result(
            rows,
            options=options,
            labels_given=labels is not None,
            line_of=lambda name, event_id: _line_of(paths[name], event_id),
        )
        if result.suspect is not None:
            _recheck_file(paths[result.suspect.source], result.suspect.source, options)
    assert result.summary is not None
    return result.summary
