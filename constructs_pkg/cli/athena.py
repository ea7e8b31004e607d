"""``shadow-test compare --engine athena``: the core's pairing query, run by Amazon Athena where the capture is.

The table and workgroup are the ones ``ShadowTestExperiment.add_capture_table`` defines (their names are
its stack outputs): the query is started in the workgroup (``StartQueryExecution``), polled
(``GetQueryExecution``, with the state and elapsed time on stderr), and its rows read page by page
(``GetQueryResults``); an interrupt stops it (``StopQueryExecution``). The rows are counts and a few
examples, read by the same :func:`~shadow_test_core.capture.query.read_result` as the embedded engine,
so the report and its JSON are the same; Athena does not number a file's lines, so an example's
``line`` is 0 (its ``source`` object and ``event_id`` find it).

Cost: Athena bills $5 per TB scanned, each query rounded up to the megabyte with a 10 MB minimum
(https://aws.amazon.com/athena/pricing/, SQL queries; us-east-1 and most regions). The bytes scanned
come from the query's ``Statistics.DataScannedInBytes``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from shadow_test_core.capture.pairing import CompareOptions, PairingSummary
from shadow_test_core.capture.query import GlueCaptureTable, pairing_query, read_result

__all__ = [
    "PRICE_PER_TB",
    "AthenaQueryFailed",
    "QueryOutcome",
    "add_arguments",
    "check_arguments",
    "compare_in_athena",
    "describe_cost",
    "progress",
    "read_rows",
    "run_query",
    "scan_cost",
    "table_location",
]

#: US dollars per terabyte (2**40 bytes) scanned: Athena's published price for SQL queries.
PRICE_PER_TB = 5.0
_MEGABYTE = 2**20
_TERABYTE = 2**40
#: Athena bills at least 10 MB per query.
MINIMUM_BILLED_BYTES = 10 * _MEGABYTE
_RUNNING = ("QUEUED", "RUNNING")
_ENDED_BADLY = ("FAILED", "CANCELLED")


class AthenaQueryFailed(RuntimeError):
    """The query ended ``FAILED`` or ``CANCELLED``; the message holds Athena's reason."""

    def __init__(self, execution_id: str, state: str, reason: str) -> None:
        super().__init__(f"Athena query {execution_id} {state.lower()}: {reason}")
        self.execution_id = execution_id
        self.state = state
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class QueryOutcome:
    """A succeeded query: its id, its rows (typed from the result set's columns) and the bytes it scanned."""

    execution_id: str
    rows: list[tuple[Any, ...]]
    bytes_scanned: int

    @property
    def cost(self) -> float:
        """What Athena bills for it, in US dollars (see :func:`scan_cost`)."""
        return scan_cost(self.bytes_scanned)


def scan_cost(bytes_scanned: int) -> float:
    """Athena's charge for one query: $5 per TB, rounded up to the megabyte, 10 MB at least."""
    billed = max(math.ceil(bytes_scanned / _MEGABYTE) * _MEGABYTE, MINIMUM_BILLED_BYTES)
    return billed / _TERABYTE * PRICE_PER_TB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--database``, ``--table`` and ``--workgroup`` (the stack outputs of ``add_capture_table``)."""
    group = parser.add_argument_group("Athena (--engine athena; the stack outputs of add_capture_table)")
    group.add_argument("--database", help="Glue database of the capture table")
    group.add_argument("--table", help="Glue table of the capture")
    group.add_argument("--workgroup", help="Athena workgroup the query runs in")
    group.add_argument(
        "--poll-interval", type=float, default=1.0, metavar="SECONDS", help="first wait between polls (default: 1)"
    )


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse what the Athena engine cannot do, naming the flag."""
    if args.engine != "athena":
        given = [flag for flag in ("database", "table", "workgroup") if getattr(args, flag)]
        if given:
            raise ValueError(f"--{given[0]}: only with --engine athena")
        return
    missing = [f"--{flag}" for flag in ("database", "table", "workgroup") if not getattr(args, flag)]
    if missing:
        raise ValueError(f"--engine athena needs {', '.join(missing)} (the stack outputs of add_capture_table)")
    if args.ground_truth is not None:
        raise ValueError("--ground-truth: not with --engine athena (the labels file is local); use --engine duckdb")


def run_query(
    client: Any,
    query: str,
    *,
    workgroup: str,
    database: str,
    on_state: Callable[[str, float, int], None] = lambda state, elapsed, scanned: None,
    poll_interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> QueryOutcome:
    """Start ``query`` in ``workgroup``, wait for it and read all its rows.

    ``on_state(state, seconds since the start, bytes scanned so far)`` is called after each poll.

    Polls back off from ``poll_interval`` to 5 s. An interrupt (Ctrl-C) stops the query before it propagates.

    :raises AthenaQueryFailed: if the query ends ``FAILED`` or ``CANCELLED``, with Athena's reason.
    """
    started = clock()
    execution_id = client.start_query_execution(
        QueryString=query, WorkGroup=workgroup, QueryExecutionContext={"Database": database}
    )["QueryExecutionId"]
    interval = poll_interval
    try:
        while True:
            execution = client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
            status = execution["Status"]
            state = status["State"]
            on_state(state, clock() - started, _scanned(execution))
            if state not in _RUNNING:
                break
            sleep(interval)
            interval = min(interval * 1.5, 5.0)
    except KeyboardInterrupt:
        client.stop_query_execution(QueryExecutionId=execution_id)
        raise
    if state in _ENDED_BADLY:
        raise AthenaQueryFailed(execution_id, state, _reason(status))
    if state != "SUCCEEDED":
        raise AthenaQueryFailed(execution_id, state, "unknown query state")
    return QueryOutcome(
        execution_id=execution_id,
        rows=list(read_rows(client, execution_id)),
        bytes_scanned=_scanned(execution),
    )


def _scanned(execution: dict[str, Any]) -> int:
    return int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))


def _reason(status: dict[str, Any]) -> str:
    error = status.get("AthenaError") or {}
    parts = [status.get("StateChangeReason"), error.get("ErrorMessage")]
    if error.get("ErrorType") is not None:
        parts.append(f"error type {error['ErrorType']}")
    return "; ".join(dict.fromkeys(p for p in parts if p)) or "no reason given"


def read_rows(client: Any, execution_id: str) -> Iterator[tuple[Any, ...]]:
    """The result set's rows, page by page, typed from its columns' types; the header row is skipped."""
    pages = client.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id)
    first = True
    for page in pages:
        result = page["ResultSet"]
        columns = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
        rows = result.get("Rows", [])
        if first and rows and [cell.get("VarCharValue") for cell in rows[0]["Data"]] == [c["Name"] for c in columns]:
            rows = rows[1:]  # a SELECT's first row repeats the column names
        first = False
        for row in rows:
            yield tuple(_typed(cell, column["Type"]) for cell, column in zip(row["Data"], columns, strict=True))


def _typed(cell: dict[str, str], kind: str) -> Any:
    text = cell.get("VarCharValue")
    if text is None:
        return None
    kind = kind.lower()
    if kind == "boolean":
        return text == "true"
    if kind in ("tinyint", "smallint", "integer", "bigint"):
        return int(text)
    if kind in ("real", "float", "double") or kind.startswith("decimal"):
        return float(text)
    return text


def compare_in_athena(
    client: Any,
    *,
    database: str,
    table: str,
    workgroup: str,
    endpoint: str,
    production_variant: str,
    shadow_variant: str,
    options: CompareOptions,
    on_state: Callable[[str, float, int], None],
    poll_interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[PairingSummary, QueryOutcome]:
    """The pairing query on the capture table, read into the summary the other engines give.

    :raises UnsupportedInSql: for an ``--output-path`` that has no SQL form.
    :raises AthenaQueryFailed: if the query fails or is cancelled.
    :raises ValueError: if a capture record does not follow SageMaker's format.
    """
    query = pairing_query(
        GlueCaptureTable(table=f"{database}.{table}", endpoint=endpoint),
        production_variant=production_variant,
        shadow_variant=shadow_variant,
        options=options,
    )
    outcome = run_query(
        client,
        query,
        workgroup=workgroup,
        database=database,
        on_state=on_state,
        poll_interval=poll_interval,
        sleep=sleep,
    )
    result = read_result(outcome.rows, options=options, labels_given=False)
    if result.suspect is not None:
        suspect = result.suspect
        raise ValueError(
            f"{suspect.source}: record {suspect.event_id} does not follow SageMaker's capture format "
            "(compare --engine duckdb with --capture names its line and field)"
        )
    assert result.summary is not None
    return result.summary, outcome


def progress(print_line: Callable[[str], None], *, every: float = 30.0) -> Callable[[str, float, int], None]:
    """An ``on_state`` that prints a line at each new state, and every ``every`` seconds while it lasts."""
    shown: list[tuple[str, float]] = []

    def on_state(state: str, elapsed: float, scanned: int) -> None:
        if not shown or shown[-1][0] != state or elapsed - shown[-1][1] >= every:
            print_line(f"Athena query {state.lower()} ({elapsed:.0f} s, {scanned:,} bytes scanned)")
            shown.append((state, elapsed))

    return on_state


def table_location(glue_client: Any, *, database: str, table: str) -> str:
    """The capture prefix the table reads (its ``Location``, as SageMaker's ``Destination`` writes it)."""
    described = glue_client.get_table(DatabaseName=database, Name=table)["Table"]
    return str(described["StorageDescriptor"]["Location"]).rstrip("/")


def describe_cost(outcome: QueryOutcome) -> str:
    """``Athena scanned N bytes: $C (at $5 per TB, 10 MB minimum)``."""
    return (
        f"Athena query {outcome.execution_id} scanned {outcome.bytes_scanned:,} bytes: "
        f"${outcome.cost:.6f} (at ${PRICE_PER_TB:g} per TB scanned, rounded up to the MB, 10 MB minimum; "
        "aws.amazon.com/athena/pricing)"
    )
