"""Who may query a shadow test's capture with Athena: ``grant_query_capture``, what ``compare --engine athena`` needs."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_pkg.capture_table import CaptureTable
from constructs_pkg.props import DataCapture
from constructs_pkg.security.acknowledgements import OwnFindings
from constructs_pkg.security.capture_access import grant_read_capture
from constructs_pkg.security.experiment_roles import (
    QUERY_CATALOG,
    QUERY_RESULTS,
    QUERY_RESULTS_BUCKET,
    QUERY_RESULTS_KEY,
    QUERY_WORKGROUP,
)

__all__ = ["grant_query_capture"]


def grant_query_capture(
    grantee: iam.IGrantable,
    *,
    owner: Construct,
    table: CaptureTable,
    data_capture: DataCapture,
    own_findings: OwnFindings,
) -> iam.Grant:
    """Let ``grantee`` run queries on ``table`` (of the experiment ``owner``) in its workgroup, and nothing else.

    Athena acts with the caller's permissions: it reads the table's definition from Glue, lists and
    reads the capture (``grant_read_capture``'s statements, with their keys), and writes the results
    under the workgroup's results prefix, encrypted with the capture key when there is one.
    """
    grant = grant_read_capture(grantee, bucket=table.bucket, data_capture=data_capture, owner=table.node.path)
    for declared, resources in (
        (QUERY_WORKGROUP, [table.workgroup_arn]),
        (QUERY_CATALOG, table.catalog_arns),
        (QUERY_RESULTS_BUCKET, [table.bucket.bucket_arn]),
        (QUERY_RESULTS, [table.bucket.arn_for_objects(f"{table.results_prefix}*")]),
    ):
        grant = grant.combine(
            iam.Grant.add_to_principal(grantee=grantee, actions=list(declared.actions), resource_arns=resources)
        )
    if table.key is not None:
        grant = grant.combine(table.key.grant(grantee, *QUERY_RESULTS_KEY.actions))
    if not grant.success:
        raise ValueError(f"grant_query_capture: could not add the statements to {grantee} for {table.node.path}")
    own_findings.add_grantee(owner, grantee)
    return grant
