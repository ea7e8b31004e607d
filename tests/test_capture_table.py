"""``ShadowTestExperiment.add_capture_table`` and ``grant_query_capture``: the capture as an Athena table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from constructs_pkg import DataCapture, Schedule, ShadowTestExperiment, ValidationError
from tests.synth import PROD, SHADOW, resources_of, synth
from tests.synth import experiment as _experiment

START = datetime(2026, 11, 30, 8, 45, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture(scope="module")
def synthesized() -> tuple[Template, dict[str, Any]]:
    names: dict[str, Any] = {}

    def build(stack: Stack) -> None:
        key = kms.Key(stack, "CaptureKey")
        encrypted = _experiment(
            stack, "Encrypted", DataCapture(prefix="/capture/", kms_key=key), schedule=Schedule(start_time=START)
        )
        encrypted.add_capture_table(bytes_scanned_cutoff=10_000_000_000)
        encrypted.grant_query_capture(iam.Role(stack, "Analyst", assumed_by=iam.AccountRootPrincipal()))
        given = s3.Bucket.from_bucket_name(stack, "Given", "team-bucket")
        plain = _experiment(stack, "Plain", DataCapture(bucket=given))
        plain.add_capture_table(database_name="team_capture", table_name="shadow", workgroup_name="team-shadow")
        names["key"] = stack.get_logical_id(key.node.default_child)  # type: ignore[arg-type]
        names["bucket"] = stack.get_logical_id(encrypted.data_capture_bucket.node.default_child)  # type: ignore[union-attr,arg-type]
        names["encrypted"] = encrypted.capture_table
        table = encrypted.capture_table
        assert table is not None
        names["database"] = stack.get_logical_id(table.database)
        names["workgroup"] = stack.get_logical_id(table.workgroup)

    template, _stack = synth(build)
    return template, names


def _table(template: Template, name: str) -> dict[str, Any]:
    tables = resources_of(template, "AWS::Glue::Table")
    return next(t["Properties"]["TableInput"] for t in tables.values() if t["Properties"]["TableInput"]["Name"] == name)


def _workgroup(template: Template, name: str) -> dict[str, Any]:
    groups = resources_of(template, "AWS::Athena::WorkGroup")
    return next(g["Properties"] for g in groups.values() if g["Properties"]["Name"] == name)


def test_table_projects_endpoint_variant_and_hour_partitions_from_sagemakers_layout(synthesized: Any) -> None:
    template, names = synthesized
    table = _table(template, "capture")
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.endpoint.type"] == "enum"
    assert parameters["projection.endpoint.values"] == "ep-encrypted"
    assert parameters["projection.variant.type"] == "enum"
    assert parameters["projection.variant.values"] == "prod,shadow"
    assert parameters["projection.datehour.type"] == "date"
    assert parameters["projection.datehour.format"] == "yyyy/MM/dd/HH"
    assert parameters["projection.datehour.interval"] == "1"
    assert parameters["projection.datehour.interval.unit"] == "HOURS"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["endpoint", "variant", "datehour"]
    assert parameters["storage.location.template"] == {
        "Fn::Join": ["", ["s3://", {"Ref": names["bucket"]}, "/capture/${endpoint}/${variant}/${datehour}/"]]
    }
    assert table["StorageDescriptor"]["Location"] == {
        "Fn::Join": ["", ["s3://", {"Ref": names["bucket"]}, "/capture/"]]
    }


def test_projection_starts_at_the_schedules_start_hour_in_utc(synthesized: Any) -> None:
    template, _names = synthesized
    assert _table(template, "capture")["Parameters"]["projection.datehour.range"] == "2026/11/30/06,NOW"


def test_projection_without_a_start_reaches_back_one_year(synthesized: Any) -> None:
    template, _names = synthesized
    assert _table(template, "shadow")["Parameters"]["projection.datehour.range"] == "NOW-1YEARS,NOW"


def test_table_reads_capture_lines_with_the_json_serde_and_records_columns(synthesized: Any) -> None:
    template, _names = synthesized
    descriptor = _table(template, "capture")["StorageDescriptor"]
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert descriptor["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    columns = {c["Name"]: c["Type"] for c in descriptor["Columns"]}
    assert set(columns) == {"capturedata", "eventmetadata", "eventversion"}
    # The fields the pairing query reads (shadow_test_core.capture.query.GlueCaptureTable).
    for field in ("endpointinput", "endpointoutput", "data", "encoding"):
        assert f"{field}:" in columns["capturedata"]
    for field in ("eventid", "inferenceid", "inferencetime"):
        assert f"{field}:string" in columns["eventmetadata"]


def test_no_crawler_and_no_partition_resources(synthesized: Any) -> None:
    template, _names = synthesized
    template.resource_count_is("AWS::Glue::Crawler", 0)
    template.resource_count_is("AWS::Glue::Partition", 0)


def test_workgroup_encrypts_results_with_the_capture_key_and_enforces_it(synthesized: Any) -> None:
    template, names = synthesized
    workgroup = _workgroup(template, names["encrypted"].workgroup_name)
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == 10_000_000_000
    results = configuration["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": {"Fn::GetAtt": [names["key"], "Arn"]},
    }
    assert results["OutputLocation"] == {
        "Fn::Join": ["", ["s3://", {"Ref": names["bucket"]}, "/capture/_athena_results/"]]
    }


def test_workgroup_without_a_capture_key_encrypts_results_with_s3_keys(synthesized: Any) -> None:
    template, _names = synthesized
    configuration = _workgroup(template, "team-shadow")["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"] == {
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
        "OutputLocation": "s3://team-bucket/_athena_results/",
    }


def test_names_are_stack_outputs(synthesized: Any) -> None:
    template, names = synthesized
    assert len(template.find_outputs("*", {"Value": {"Ref": names["database"]}})) == 1
    template.has_output("*", {"Value": "shadow", "Description": "Glue table of the capture of TestStack/Plain"})


def test_grant_query_capture_allows_the_query_calls_on_that_workgroup_only(synthesized: Any) -> None:
    template, names = synthesized
    policy = next(p for k, p in resources_of(template, "AWS::IAM::Policy").items() if k.startswith("Analyst"))
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = sorted(a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    assert actions == sorted(
        [
            "s3:ListBucket",
            "s3:GetObject",
            "kms:Decrypt",
            "athena:StartQueryExecution",
            "athena:GetQueryExecution",
            "athena:GetQueryResults",
            "athena:StopQueryExecution",
            "glue:GetDatabase",
            "glue:GetTable",
            "glue:GetPartitions",
            "s3:GetBucketLocation",
            "s3:GetObject",
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "kms:GenerateDataKey",
        ]
    )
    athena = next(s for s in statements if s["Action"][0].startswith("athena:"))
    assert athena["Resource"]["Fn::Join"][1][-2:] == [
        ":athena:us-east-1:123456789012:workgroup/",
        {"Ref": names["workgroup"]},
    ]


def test_add_capture_table_without_data_capture_names_the_construct_and_prop() -> None:
    def build(stack: Stack) -> None:
        experiment = _experiment(stack, "NoCapture", None)
        with pytest.raises(ValidationError, match=r"TestStack/NoCapture(.|\n)*data_capture: add_capture_table needs"):
            experiment.add_capture_table()
        with pytest.raises(ValidationError, match="grant_query_capture: no capture table"):
            experiment.grant_query_capture(iam.Role(stack, "Nobody", assumed_by=iam.AccountRootPrincipal()))

    synth(build)


def test_add_capture_table_twice_is_refused() -> None:
    def build(stack: Stack) -> None:
        experiment = _experiment(stack, "Twice", DataCapture())
        experiment.add_capture_table()
        with pytest.raises(ValidationError, match="add_capture_table: called twice"):
            experiment.add_capture_table()

    synth(build)


def test_invalid_names_start_and_cutoff_are_listed_at_once() -> None:
    def build(stack: Stack) -> None:
        experiment = _experiment(stack, "Invalid", DataCapture())
        with pytest.raises(ValidationError) as raised:
            experiment.add_capture_table(
                database_name="Team-DB",
                table_name="ok_table",
                workgroup_name="no spaces",
                start=datetime(2026, 1, 1),  # no time zone: the error under test
                bytes_scanned_cutoff=1024,
            )
        problems = raised.value.problems
        assert [p.split(":")[0] for p in problems] == [
            "add_capture_table.database_name",
            "add_capture_table.workgroup_name",
            "add_capture_table.start",
            "add_capture_table.bytes_scanned_cutoff",
        ]

    synth(build)


# --- docs/athena.md shows the table as Athena DDL: the text is rendered from a synthesized table ---------

DOC = Path(__file__).resolve().parent.parent / "docs" / "athena.md"


def _text(value: Any) -> str:
    """A template value as text; the capture bucket's name (a Ref) as ``amzn-s3-demo-bucket``."""
    if isinstance(value, str):
        return value
    parts = value["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "amzn-s3-demo-bucket" for p in parts)


def athena_ddl(database: str, table: dict[str, Any]) -> str:
    """The ``CREATE EXTERNAL TABLE`` statement equivalent to a synthesized ``TableInput``."""
    descriptor = table["StorageDescriptor"]
    columns = ",\n".join(f"  `{c['Name']}` {c['Type']}" for c in descriptor["Columns"])
    partitions = ", ".join(f"`{k['Name']}` {k['Type']}" for k in table["PartitionKeys"])
    serde = descriptor["SerdeInfo"]
    serde_properties = ", ".join(f"'{k}' = '{v}'" for k, v in serde["Parameters"].items())
    properties = ",\n".join(f"  '{k}' = '{_text(v)}'" for k, v in table["Parameters"].items())
    return (
        f"CREATE EXTERNAL TABLE `{database}`.`{table['Name']}` (\n{columns}\n)\n"
        f"PARTITIONED BY ({partitions})\n"
        f"ROW FORMAT SERDE '{serde['SerializationLibrary']}' WITH SERDEPROPERTIES ({serde_properties})\n"
        f"STORED AS INPUTFORMAT '{descriptor['InputFormat']}'\n"
        f"OUTPUTFORMAT '{descriptor['OutputFormat']}'\n"
        f"LOCATION '{_text(descriptor['Location'])}'\n"
        f"TBLPROPERTIES (\n{properties}\n)"
    )


def _documented_example() -> str:
    def build(stack: Stack) -> None:
        experiment = ShadowTestExperiment(
            stack,
            "Shadow",
            endpoint_name="churn-endpoint",
            production_variant=PROD,
            shadow_variant=SHADOW,
            data_capture=DataCapture(prefix="capture"),
            schedule=Schedule(start_time=datetime(2026, 12, 1, tzinfo=timezone.utc)),
        )
        experiment.add_capture_table(database_name="shadow_test_churn")

    template, _stack = synth(build)
    (table,) = resources_of(template, "AWS::Glue::Table").values()
    return athena_ddl("shadow_test_churn", table["Properties"]["TableInput"])


def test_docs_show_the_ddl_of_the_synthesized_table() -> None:
    assert _documented_example() in DOC.read_text(encoding="utf-8"), (
        "docs/athena.md: paste tests.test_capture_table._documented_example()"
    )


def test_grantee_policy_acknowledges_only_the_declared_wildcards_on_the_capture_bucket() -> None:
    acknowledged: list[str] = []

    def build(stack: Stack) -> None:
        experiment = _experiment(stack, "Acknowledged", DataCapture(prefix="capture"))
        experiment.add_capture_table()
        analyst = iam.Role(stack, "Analyst", assumed_by=iam.AccountRootPrincipal())
        experiment.grant_query_capture(analyst)
        # The app's own wildcard on another bucket: cdk-nag must still report it.
        analyst.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::other-bucket/*"])
        )
        acknowledged.append(analyst.node.find_child("DefaultPolicy").node.find_child("Resource").node.path)
        bucket = experiment.data_capture_bucket
        assert bucket is not None
        acknowledged.append(stack.get_logical_id(bucket.node.default_child))  # type: ignore[arg-type]

    _template, stack = synth(build)
    path, bucket = acknowledged
    policy = next(c for c in stack.node.find_all() if c.node.path == path)
    ids = [
        rule
        for entry in policy.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule in entry.data
    ]
    assert sorted(ids) == [
        f"AwsSolutions::AwsSolutions-IAM5[Resource::<{bucket}.Arn>/capture/*]",
        f"AwsSolutions::AwsSolutions-IAM5[Resource::<{bucket}.Arn>/capture/_athena_results/*]",
    ]
