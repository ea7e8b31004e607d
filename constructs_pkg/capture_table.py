"""The data capture as an Athena table: a Glue database and table, and a workgroup to query it.

SageMaker writes each variant's capture under ``{prefix}/{endpoint}/{variant}/yyyy/mm/dd/hh/``. The
table projects its partitions from that layout (Athena partition projection): the endpoint is an enum
of the experiment's endpoint, the variant an enum of its two variants, the hour a date from ``start``
to ``NOW``, and
``storage.location.template`` maps them to the keys. No crawler runs and no ``MSCK REPAIR TABLE`` is
needed: a new hour of capture is queryable as soon as SageMaker writes it.

The workgroup's results go under ``{prefix}/_athena_results/`` of the capture bucket. That prefix
cannot be an endpoint's folder (endpoint names have no ``_``), so the table never reads it; it keeps
the capture bucket's protections (TLS only, versioned, access-logged) and its key, and a reader of
the capture can read what was derived from it. A bucket of its own would repeat all of these and
its access-log findings. The workgroup enforces its configuration, so a query cannot write
elsewhere or unencrypted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from aws_cdk import CfnOutput, Names, Stack, Token
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_pkg.errors import ValidationError

__all__ = [
    "CAPTURE_TABLE_ID",
    "COLUMNS",
    "ENDPOINT_PARTITION",
    "HOUR_FORMAT",
    "HOUR_PARTITION",
    "RESULTS_FOLDER",
    "VARIANT_PARTITION",
    "CaptureTable",
]

#: The id of the construct ``add_capture_table`` creates under the experiment.
CAPTURE_TABLE_ID = "CaptureTable"
#: The folder of the workgroup's results under the capture prefix (no endpoint name holds ``_``).
RESULTS_FOLDER = "_athena_results"
#: The partition keys: the endpoint's and the variant's folders and the hour's four (``yyyy/MM/dd/HH``, UTC).
#: The query (shadow_test_core.capture.query.GlueCaptureTable) filters on the endpoint and the variant.
ENDPOINT_PARTITION = "endpoint"
VARIANT_PARTITION = "variant"
HOUR_PARTITION = "datehour"
HOUR_FORMAT = "yyyy/MM/dd/HH"
#: Before the experiment's start: capture up to a year old (Athena's relative-date syntax).
_DEFAULT_START = "NOW-1YEARS"

_PAYLOAD = "struct<observedcontenttype:string,mode:string,data:string,encoding:string>"
#: The columns of one capture line (lambda/shadow_test_core/capture/records.py documents the format).
#: Glue names are lower case; the OpenX JSON SerDe matches the line's keys case-insensitively.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("capturedata", f"struct<endpointinput:{_PAYLOAD},endpointoutput:{_PAYLOAD}>"),
    ("eventmetadata", "struct<eventid:string,inferenceid:string,inferencetime:string>"),
    ("eventversion", "string"),
)
_JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
_GLUE_NAME = re.compile(r"[a-z0-9_]{1,255}")
_WORKGROUP_NAME = re.compile(r"[a-zA-Z0-9._-]{1,128}")


@dataclass(frozen=True, kw_only=True)
class CaptureDestination:
    """Where SageMaker writes one experiment's capture."""

    bucket: s3.IBucket
    prefix: str
    key: kms.IKey | None
    endpoint_name: str
    variant_names: tuple[str, str]


class CaptureTable(Construct):
    """A Glue database and table over an experiment's capture, and an Athena workgroup to query it.

    Made by ``ShadowTestExperiment.add_capture_table``; see that method for the props.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        location: CaptureDestination,
        start: datetime | None,
        database_name: str | None,
        table_name: str | None,
        workgroup_name: str | None,
        bytes_scanned_cutoff: int | None,
    ) -> None:
        super().__init__(scope, id)
        default_name = Names.unique_id(self).lower()[-64:]
        self.database_name = database_name or f"shadow_test_{default_name}"
        self.table_name = table_name or "capture"
        self.workgroup_name = workgroup_name or f"shadow-test-{default_name}"
        _check_props(scope.node.path, self, start, bytes_scanned_cutoff)
        self.key = location.key
        self.bucket = location.bucket
        capture_prefix = f"{location.prefix}/" if location.prefix else ""
        #: The key prefix of the workgroup's results, ending with ``/``.
        self.results_prefix = f"{capture_prefix}{RESULTS_FOLDER}/"
        stack = Stack.of(self)

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name, description=f"Data capture of the shadow test {scope.node.path}"
            ),
        )
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=stack.account,
            database_name=self.database.ref,
            table_input=_table_input(
                self.table_name,
                f"s3://{location.bucket.bucket_name}/{capture_prefix}",
                location.endpoint_name,
                location.variant_names,
                _hour(start),
            ),
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.workgroup_name,
            description=f"Queries of the data capture of the shadow test {scope.node.path}",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{location.bucket.bucket_name}/{self.results_prefix}",
                    encryption_configuration=_results_encryption(location.key),
                ),
            ),
        )
        for name, value, what in (
            ("DatabaseName", self.database.ref, "Glue database"),
            ("TableName", self.table_name, "Glue table"),
            ("WorkGroupName", self.workgroup.ref, "Athena workgroup"),
        ):
            CfnOutput(self, name, value=value, description=f"{what} of the capture of {scope.node.path}")

    @property
    def workgroup_arn(self) -> str:
        """The ARN of the workgroup."""
        return Stack.of(self).format_arn(service="athena", resource="workgroup", resource_name=self.workgroup.ref)

    @property
    def catalog_arns(self) -> list[str]:
        """The ARNs of the Glue catalog, database and table: what a query reads of the catalog."""
        stack = Stack.of(self)
        return [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=self.database.ref),
            # The table's name, not its Ref: CloudFormation documents no Ref value for AWS::Glue::Table.
            stack.format_arn(service="glue", resource="table", resource_name=f"{self.database.ref}/{self.table_name}"),
        ]


def _check_props(path: str, table: CaptureTable, start: datetime | None, cutoff: int | None) -> None:
    problems = []
    for prop, value, pattern, allowed in (
        ("database_name", table.database_name, _GLUE_NAME, "1-255 of a-z, 0-9 and _"),
        ("table_name", table.table_name, _GLUE_NAME, "1-255 of a-z, 0-9 and _"),
        ("workgroup_name", table.workgroup_name, _WORKGROUP_NAME, "1-128 of a-z, A-Z, 0-9, '.', '_' and '-'"),
    ):
        if not Token.is_unresolved(value) and not pattern.fullmatch(value):
            problems.append(f"add_capture_table.{prop}: {value!r} is not a valid name (allowed: {allowed})")
    if start is not None and start.tzinfo is None:
        problems.append(f"add_capture_table.start: {start.isoformat()} has no time zone (allowed: timezone-aware)")
    # Athena's minimum cutoff per query is 10 MB.
    if cutoff is not None and not Token.is_unresolved(cutoff) and cutoff < 10_000_000:
        problems.append(f"add_capture_table.bytes_scanned_cutoff: {cutoff} (allowed: at least 10000000)")
    if problems:
        raise ValidationError(path, problems)


def _hour(start: datetime | None) -> str:
    if start is None:
        return _DEFAULT_START
    return start.astimezone(timezone.utc).strftime("%Y/%m/%d/%H")


def _table_input(
    name: str, location: str, endpoint: str, variants: tuple[str, str], start: str
) -> glue.CfnTable.TableInputProperty:
    projection = {
        "projection.enabled": "true",
        f"projection.{ENDPOINT_PARTITION}.type": "enum",
        f"projection.{ENDPOINT_PARTITION}.values": endpoint,
        f"projection.{VARIANT_PARTITION}.type": "enum",
        f"projection.{VARIANT_PARTITION}.values": ",".join(variants),
        f"projection.{HOUR_PARTITION}.type": "date",
        f"projection.{HOUR_PARTITION}.format": HOUR_FORMAT,
        f"projection.{HOUR_PARTITION}.range": f"{start},NOW",
        f"projection.{HOUR_PARTITION}.interval": "1",
        f"projection.{HOUR_PARTITION}.interval.unit": "HOURS",
        "storage.location.template": (
            f"{location}${{{ENDPOINT_PARTITION}}}/${{{VARIANT_PARTITION}}}/${{{HOUR_PARTITION}}}/"
        ),
    }
    return glue.CfnTable.TableInputProperty(
        name=name,
        description="SageMaker data capture: one JSON line per captured request and response",
        table_type="EXTERNAL_TABLE",
        parameters={"EXTERNAL": "TRUE", "classification": "json", **projection},
        partition_keys=[
            glue.CfnTable.ColumnProperty(name=ENDPOINT_PARTITION, type="string", comment="the endpoint's name"),
            glue.CfnTable.ColumnProperty(name=VARIANT_PARTITION, type="string", comment="the variant's name"),
            glue.CfnTable.ColumnProperty(name=HOUR_PARTITION, type="string", comment=f"the UTC hour, {HOUR_FORMAT}"),
        ],
        storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
            location=location,
            input_format="org.apache.hadoop.mapred.TextInputFormat",
            output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            serde_info=glue.CfnTable.SerdeInfoProperty(
                serialization_library=_JSON_SERDE, parameters={"case.insensitive": "TRUE"}
            ),
            columns=[glue.CfnTable.ColumnProperty(name=column, type=kind) for column, kind in COLUMNS],
        ),
    )


def _results_encryption(key: kms.IKey | None) -> athena.CfnWorkGroup.EncryptionConfigurationProperty:
    if key is None:
        return athena.CfnWorkGroup.EncryptionConfigurationProperty(encryption_option="SSE_S3")
    return athena.CfnWorkGroup.EncryptionConfigurationProperty(encryption_option="SSE_KMS", kms_key=key.key_arn)
