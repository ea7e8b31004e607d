"""``shadow-test compare --engine athena``, end to end against moto's Athena, Glue and S3 servers on loopback.

moto does not run SQL: its Athena answers a query with a result set seeded through
``/moto-api/static/athena/query-results``. The rows seeded here are the ones DuckDB gives for the same
pairing query over the same capture (``line`` set to NULL, as Athena returns it), so the test checks
that both engines report the same thing from the same rows, and that the Athena path makes the right
calls (table, workgroup, database), waits (moto's state manager holds the query QUEUED and RUNNING),
reports a cancelled query, stops the query on an interrupt and reads pages. A FAILED query and its
reason, which moto never produces, come from a botocore Stubber.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from constructs_pkg.cli import athena, engine
from constructs_pkg.cli import main as cli
from shadow_test_core.capture.query import RESULT_COLUMNS
from tests.capture_factory import classifier_scenario, write_variant

ENDPOINT = "churn-endpoint"
BUCKET = "ml-capture"
DATABASE = "shadow_capture"
TABLE = "capture"
WORKGROUP = "shadow-test-capture"
NAMES = ["--endpoint", ENDPOINT, "--production-variant", "prod", "--shadow-variant", "shadow"]
ATHENA = ["--engine", "athena", "--database", DATABASE, "--table", TABLE, "--workgroup", WORKGROUP]
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        _define_table_and_workgroup()
        yield url
    server.stop()


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def _define_table_and_workgroup() -> None:
    """What add_capture_table deploys, in moto: the database, the table (its location) and the workgroup."""
    _client("s3").create_bucket(Bucket=BUCKET)
    glue = _client("glue")
    glue.create_database(DatabaseInput={"Name": DATABASE})
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": TABLE,
            "PartitionKeys": [{"Name": n, "Type": "string"} for n in ("endpoint", "variant", "datehour")],
            "StorageDescriptor": {"Location": f"s3://{BUCKET}/capture/", "Columns": []},
        },
    )
    _client("athena").create_work_group(
        Name=WORKGROUP,
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/capture/_athena_results/"},
            "EnforceWorkGroupConfiguration": True,
        },
    )


def _post(url: str, path: str, document: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url + path, data=json.dumps(document).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request) as response:
        assert response.status in (200, 201)


def _athena_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "boolean"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "bigint"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "double"
    return "varchar"


def _cell(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"VarCharValue": str(value).lower()}
    return {"VarCharValue": str(value)}


def seed_results(url: str, rows: list[tuple[Any, ...]]) -> None:
    """Queue Athena's result set of the next query: a header row, then ``rows``, typed per column."""
    kinds = [_athena_type([row[i] for row in rows]) for i in range(len(RESULT_COLUMNS))]
    column_info = [
        {
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Name": name,
            "Label": name,
            "Type": kind,
            "Precision": 0,
            "Scale": 0,
            "Nullable": "UNKNOWN",
            "CaseSensitive": kind == "varchar",
        }
        for name, kind in zip(RESULT_COLUMNS, kinds, strict=True)
    ]
    header = {"Data": [{"VarCharValue": name} for name in RESULT_COLUMNS]}
    data = [header, *({"Data": [_cell(value) for value in row]} for row in rows)]
    _post(url, "/moto-api/static/athena/query-results", {"results": [{"rows": data, "column_info": column_info}]})


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("capture")
    scenario = classifier_scenario(600, sampling=0.5, production_accuracy=0.85, shadow_accuracy=0.95)
    write_variant(root, ENDPOINT, "prod", scenario.production, per_file=200)
    write_variant(root, ENDPOINT, "shadow", scenario.shadow, per_file=200)
    return root


@pytest.fixture(scope="module")
def default_rows(local: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    """The rows of the pairing query with the default options, as Athena would return them."""
    with pytest.MonkeyPatch.context() as patch:
        rows, _document = _duckdb_rows_and_document(local, tmp_path_factory.mktemp("default"), patch)
    return rows


def _duckdb_rows_and_document(
    local: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str
) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """The embedded engine's JSON document, and the rows its query returned (what Athena would return)."""
    seen: list[list[tuple[Any, ...]]] = []
    real = engine.read_result

    def spy(rows: Any, **kwargs: Any) -> Any:
        seen.append(list(rows))
        return real(seen[-1], **kwargs)

    monkeypatch.setattr(engine, "read_result", spy)
    output = tmp_path / "duckdb.json"
    code = cli.main(["compare", "churn-test", "--capture", str(local), *NAMES, "--json", str(output), *flags])
    assert code == 0 and len(seen) == 1
    line = RESULT_COLUMNS.index("line")
    # Athena does not number lines: the Athena relation returns NULL.
    rows = [(*row[:line], None, *row[line + 1 :]) for row in seen[0]]
    return rows, json.loads(output.read_text())


def _compare_athena(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["compare", "churn-test", *NAMES, *ATHENA, "--poll-interval", "0.01", *flags])
    captured = capsys.readouterr()
    return code, " ".join(captured.out.split()), captured.err


def _last_execution() -> dict[str, Any]:
    client = _client("athena")
    ids = client.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    executions = [client.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    return max(executions, key=lambda e: e["Status"]["SubmissionDateTime"])


def _without_lines(document: dict[str, Any]) -> dict[str, Any]:
    document = json.loads(json.dumps(document))
    document["experiment"].pop("capture")
    for example in document["disagreements"]:
        example.pop("line")
    return document


def test_athena_report_is_the_local_engines_report_from_the_same_rows(
    moto_url: str, local: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, expected = _duckdb_rows_and_document(local, tmp_path, monkeypatch, "--output-path", "predictions[0].label")
    assert any(row[0] == "example" for row in rows)  # disagreements travel through the result set too
    seed_results(moto_url, rows)
    output = tmp_path / "athena.json"
    code, out, err = _compare_athena(tmp_path, capsys, "--output-path", "predictions[0].label", "--json", str(output))
    assert code == 0, err
    document = json.loads(output.read_text())
    assert _without_lines(document) == _without_lines(expected)
    assert document["experiment"]["capture"] == f"s3://{BUCKET}/capture"  # the table's location, from Glue
    assert all(example["line"] == 0 for example in document["disagreements"])
    assert f"Capture: s3://{BUCKET}/capture (table {DATABASE}.{TABLE} in workgroup {WORKGROUP})" in out


def test_query_runs_in_the_workgroup_on_the_table_of_the_endpoint_and_variants(
    moto_url: str, tmp_path: Path, default_rows: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    seed_results(moto_url, default_rows)
    assert _compare_athena(tmp_path, capsys)[0] == 0
    execution = _last_execution()
    assert execution["WorkGroup"] == WORKGROUP
    assert execution["QueryExecutionContext"] == {"Database": DATABASE}
    query = execution["Query"]
    assert f'FROM "{DATABASE}"."{TABLE}"' in query
    assert f"endpoint = '{ENDPOINT}'" in query
    assert "variant = 'prod'" in query and "variant = 'shadow'" in query


def test_bytes_scanned_and_their_cost_are_printed(
    moto_url: str, tmp_path: Path, default_rows: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    seed_results(moto_url, default_rows)
    code, out, _err = _compare_athena(tmp_path, capsys)
    assert code == 0
    # moto reports 0 bytes scanned: Athena's 10 MB minimum is billed.
    assert "scanned 0 bytes: $0.000048 (at $5 per TB scanned, rounded up to the MB, 10 MB minimum" in out


def test_waiting_shows_each_state_on_stderr(
    moto_url: str, default_rows: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    transition = {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 3}}
    _post(moto_url, "/moto-api/state-manager/set-transition", transition)
    try:
        seed_results(moto_url, default_rows)
        assert cli.main(["compare", "churn-test", *NAMES, *ATHENA, "--poll-interval", "0.001"]) == 0
    finally:
        _post(moto_url, "/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"})
    err = capsys.readouterr().err
    assert err.index("Athena query queued") < err.index("Athena query running") < err.index("Athena query succeeded")
    assert err.count("Athena query queued") == 1  # one line per state, not per poll
    assert "Athena query succeeded (0 s, 0 bytes scanned)" in err


def test_cancelled_query_exits_3_with_its_state(
    moto_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = _client("athena")
    transition = {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 2}}
    _post(moto_url, "/moto-api/state-manager/set-transition", transition)

    def cancel_when_queued(state: str, elapsed: float, scanned: int) -> None:
        if state == "QUEUED":
            client.stop_query_execution(QueryExecutionId=_last_execution()["QueryExecutionId"])

    try:
        with pytest.raises(athena.AthenaQueryFailed, match=r"cancelled: no reason given") as raised:
            athena.run_query(
                client,
                "SELECT 1",
                workgroup=WORKGROUP,
                database=DATABASE,
                on_state=cancel_when_queued,
                sleep=lambda seconds: None,
            )
    finally:
        _post(moto_url, "/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"})
    assert raised.value.state == "CANCELLED"


def test_interrupt_stops_the_query(moto_url: str) -> None:
    client = _client("athena")
    transition = {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 5}}
    _post(moto_url, "/moto-api/state-manager/set-transition", transition)

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            athena.run_query(client, "SELECT 1", workgroup=WORKGROUP, database=DATABASE, sleep=interrupted)
    finally:
        _post(moto_url, "/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"})
    assert _last_execution()["Status"]["State"] == "CANCELLED"


def test_failed_query_raises_with_athenas_reason() -> None:
    client = boto3.client("athena", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}})
        failed = {
            "State": "FAILED",
            "StateChangeReason": "HIVE_BAD_DATA: Error parsing field value for field 0",
            "AthenaError": {"ErrorCategory": 2, "ErrorType": 1002, "ErrorMessage": "HIVE_BAD_DATA"},
        }
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": failed}})
        waits: list[float] = []
        with pytest.raises(athena.AthenaQueryFailed) as raised:
            athena.run_query(client, "SELECT 1", workgroup="w", database="d", sleep=waits.append)
    assert str(raised.value) == (
        "Athena query q-1 failed: HIVE_BAD_DATA: Error parsing field value for field 0; HIVE_BAD_DATA; error type 1002"
    )
    assert waits == [1.0]


def test_result_pages_are_read_in_order_with_the_header_skipped_once() -> None:
    client = boto3.client("athena", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    columns = [
        {"Name": "name", "Type": "varchar"},
        {"Name": "n", "Type": "bigint"},
        {"Name": "ok", "Type": "boolean"},
        {"Name": "at", "Type": "double"},
    ]

    def page(rows: list[list[str | None]], token: str | None) -> dict[str, Any]:
        result = {
            "ResultSet": {
                "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows],
                "ResultSetMetadata": {"ColumnInfo": columns},
            }
        }
        return {**result, "NextToken": token} if token else result

    with Stubber(client) as stub:
        stub.add_response("get_query_results", page([["name", "n", "ok", "at"], ["a", "1", "true", "0.5"]], "t"))
        stub.add_response("get_query_results", page([["name", "2", "false", None]], None))
        rows = list(athena.read_rows(client, "q-1"))
    # A data row equal to the header on a later page is data.
    assert rows == [("a", 1, True, 0.5), ("name", 2, False, None)]


def test_progress_prints_each_new_state_and_every_30_seconds_while_it_lasts() -> None:
    lines: list[str] = []
    on_state = athena.progress(lines.append)
    for state, elapsed, scanned in [
        ("QUEUED", 0.2, 0),
        ("QUEUED", 1.0, 0),
        ("RUNNING", 2.0, 0),
        ("RUNNING", 29.0, 10**9),
        ("RUNNING", 32.0, 2 * 10**9),
        ("RUNNING", 40.0, 3 * 10**9),
        ("SUCCEEDED", 41.0, 4 * 10**9),
    ]:
        on_state(state, elapsed, scanned)
    assert lines == [
        "Athena query queued (0 s, 0 bytes scanned)",
        "Athena query running (2 s, 0 bytes scanned)",
        "Athena query running (32 s, 2,000,000,000 bytes scanned)",
        "Athena query succeeded (41 s, 4,000,000,000 bytes scanned)",
    ]


@pytest.mark.parametrize(
    ("megabytes", "dollars"),
    [(0, 10 * 5 / 2**20), (10, 10 * 5 / 2**20), (10.5, 11 * 5 / 2**20), (2**20, 5.0)],
)
def test_scan_cost_is_5_dollars_per_tb_rounded_up_to_the_mb_with_a_10_mb_minimum(
    megabytes: float, dollars: float
) -> None:
    assert athena.scan_cost(int(megabytes * 2**20)) == pytest.approx(dollars)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*NAMES, "--engine", "athena", "--database", DATABASE], "--engine athena needs --table, --workgroup"),
        ([*NAMES, *ATHENA, "--ground-truth", "labels.csv"], "--ground-truth: not with --engine athena"),
        ([*NAMES, "--capture", ".", "--database", DATABASE], "--database: only with --engine athena"),
        ([*NAMES, *ATHENA, "--output-path", "predictions[*].label"], "--output-path"),
    ],
)
def test_athena_arguments_errors_exit_3_naming_the_flag(
    moto_url: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["compare", "churn-test", *args]) == 3
    assert message in capsys.readouterr().err
