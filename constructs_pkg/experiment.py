"""``ShadowTestExperiment``: a SageMaker shadow test as one CDK construct."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import jsii
from aws_cdk import Annotations, CfnOutput, CustomResource, Duration, ITaggable, RemovalPolicy, TagManager
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_pkg.capture_bucket import create_capture_bucket
from constructs_pkg.capture_table import CAPTURE_TABLE_ID, CaptureDestination, CaptureTable
from constructs_pkg.conclusion import DEFAULT_JUDGE_EVERY, DEFAULT_PERIOD, AutomaticConclusion
from constructs_pkg.endpoint_claims import claim_endpoint
from constructs_pkg.errors import ValidationError
from constructs_pkg.experiment_tags import TagRules, experiment_tag_manager, rendered_tags_lazy
from constructs_pkg.monitoring.experiment_monitoring import (
    ERROR_RATE_ALARM_ID,
    LATENCY_ALARM_ID,
    ExperimentMonitoringMixin,
)
from constructs_pkg.monitoring.imported_experiment import import_experiment
from constructs_pkg.monitoring.metrics import VariantMetrics
from constructs_pkg.props import DataCapture, DesiredState, ModelVariant, Schedule, VariantAction
from constructs_pkg.provider import ShadowTestProvider
from constructs_pkg.security.acknowledgements import EXPERIMENT
from constructs_pkg.security.capture_access import CaptureAccessMixin
from constructs_pkg.security.capture_query import grant_query_capture
from constructs_pkg.security.conclusion_roles import READ_VERDICT, READ_VERDICT_METRICS
from constructs_pkg.security.declaration import policy_statement, service_principal
from constructs_pkg.security.experiment_roles import EXPERIMENT_TRUST
from constructs_pkg.security.grants import grant_capture_key, grant_shadow_test, grant_volume_key
from constructs_pkg.validation import check_props
from shadow_test_core.consts import DEFAULT_EVIDENCE_PREFIX, RESOURCE_TYPE
from shadow_test_core.experiment import settings
from shadow_test_core.experiment.spec import DEPLOY_TIME_CHECKS
from shadow_test_core.verdict.judge import Margins


@jsii.implements(ITaggable)
class ShadowTestExperiment(ExperimentMonitoringMixin, CaptureAccessMixin, Construct):
    """A SageMaker shadow test (``ShadowMode`` inference experiment) on an existing endpoint.

    SageMaker copies ``sampling_percentage`` percent of the requests that the production variant
    serves to a shadow variant, whose responses are captured but never returned. The construct
    creates the experiment through a custom resource that handles create, update, replacement,
    delete and rollback; the role SageMaker assumes; KMS grants; an optional capture bucket; and
    a stack output holding the experiment's ARN.

    :param scope: the parent construct.
    :param id: the construct id.
    :param endpoint_name: the endpoint to shadow (a literal or a token). SageMaker allows one
        active inference experiment per endpoint: two experiments of the app with an equal literal
        or the same token fail synth, naming both (even when ``desired_state`` ends one of them).
    :param production_variant: the variant serving production traffic on that endpoint.
    :param shadow_variant: the variant that receives copies of the requests.
    :param sampling_percentage: the percentage (1-100) of requests copied to the shadow variant.
        Default: 100.
    :param experiment_name: the experiment's name. Changing it replaces the experiment.
        Default: a unique name generated at create time from the stack and construct.
    :param description: a description of the experiment. Default: none.
    :param role: the role SageMaker assumes to run the test. Default: a role granted exactly what
        the test needs (see README.md).
    :param kms_key: the key encrypting the storage volumes of the shadow variant's instances: a
        key, or a key ARN, key id, alias name or alias ARN. Default: AWS-managed encryption.
    :param data_capture: capture requests and responses to S3. Default: no capture.
    :param schedule: when the test runs. Default: starts at once and runs SageMaker's 7 days.
    :param shadow_action_on_delete: what happens to the shadow variant when the experiment ends
        early: when the resource is deleted, or when ``desired_state`` ends it. Default:
        ``VariantAction.REMOVE`` (the endpoint keeps only production).
    :param desired_state: bring the experiment to this state at the deploy: ``RUNNING`` starts a
        scheduled test now; ``COMPLETED`` or ``CANCELLED`` ends it now with
        ``shadow_action_on_delete``. An ended experiment stays until the resource is deleted, and
        other changes to it are kept in the template only (a stopped test never restarts).
        Default: none (the schedule decides).
    :param tags: tags of the experiment. Default: none.
    :param artifact_buckets: buckets holding the models' artifacts, readable by the role.
        Default: none.
    :param ecr_repositories: repositories holding the models' images, pullable by the role.
        Default: none.
    :param query_interval: time between two status polls while SageMaker works. Default: 30 seconds.
    :param total_timeout: how long a create, update or delete may take before it fails.
        Default: 45 minutes (CloudFormation allows one hour).
    :param log_retention: retention of the handler's logs. Default: one year.
        ``query_interval``, ``total_timeout`` and ``log_retention`` belong to the stack's one
        provider, which the stack's first experiment creates: every experiment of the stack that
        sets one must give the value the provider has (set it on the first experiment too), or
        the construct raises ``ValidationError`` naming both experiments.
    :param capture_bucket_removal_policy: what happens to a capture bucket the construct created
        when the stack is deleted. Default: ``RemovalPolicy.RETAIN`` (capture data is evidence).
    :param capture_access_logs: whether S3 server access logging is on for a capture bucket the
        construct creates. ``False`` turns it off: cdk-nag (``AwsSolutions-S1``,
        ``*-S3BucketLoggingEnabled``) and checkov (``CKV_AWS_18``) then report the capture bucket,
        a finding that is yours. Default: on.
    :param capture_access_logs_bucket: the bucket receiving the S3 server access logs of a capture
        bucket the construct creates (not of ``data_capture.bucket``). A bucket of the app gets the
        bucket-policy statement that lets S3 logging write; an imported one must allow it already.
        Default: a bucket the construct creates (``CaptureAccessLogs``: private, TLS-only,
        S3-managed keys, versioned, with ``capture_bucket_removal_policy``).
    :param capture_access_logs_prefix: the key prefix of those access logs.
        Default: none (the root of the access-log bucket).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint_name: str,
        production_variant: ModelVariant,
        shadow_variant: ModelVariant,
        sampling_percentage: int | None = None,
        experiment_name: str | None = None,
        description: str | None = None,
        role: iam.IRole | None = None,
        kms_key: kms.IKey | str | None = None,
        data_capture: DataCapture | None = None,
        schedule: Schedule | None = None,
        shadow_action_on_delete: VariantAction | None = None,
        desired_state: DesiredState | None = None,
        tags: Mapping[str, str] | None = None,
        artifact_buckets: Sequence[s3.IBucket] | None = None,
        ecr_repositories: Sequence[ecr.IRepository] | None = None,
        query_interval: Duration | None = None,
        total_timeout: Duration | None = None,
        log_retention: logs.RetentionDays | None = None,
        capture_bucket_removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        capture_access_logs: bool = True,
        capture_access_logs_bucket: s3.IBucket | None = None,
        capture_access_logs_prefix: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        # The props that hold settings (settings.SETTINGS says where each value goes). The tags
        # setting's value in the template is the tag manager's: the prop's and what Tags.of adds.
        values, deferred = check_props(
            self,
            {
                "experiment_name": experiment_name,
                "endpoint_name": endpoint_name,
                "role": role,
                "description": description,
                "kms_key": kms_key,
                "production_variant": production_variant,
                "shadow_variant": shadow_variant,
                "sampling_percentage": sampling_percentage,
                "data_capture": data_capture,
                "schedule": schedule,
                "shadow_action_on_delete": shadow_action_on_delete,
                "desired_state": desired_state,
                "tags": tags,
            },
        )
        self._tags = experiment_tag_manager(tags)
        self._conclusion: AutomaticConclusion | None = None
        self.node.add_validation(TagRules(self._tags))
        self.endpoint_name = endpoint_name
        path = self.node.path
        claim_endpoint(self, endpoint_name, path=path)
        self.production_variant = production_variant
        self.shadow_variant = shadow_variant
        self.data_capture_bucket: s3.IBucket | None = None
        self.data_capture = data_capture  # read by grant_read_capture
        self._schedule_start = schedule.start_time if schedule is not None else None
        #: The capture's Glue table and Athena workgroup, once ``add_capture_table`` is called.
        self.capture_table: CaptureTable | None = None
        capture_destination = None
        if data_capture is not None:
            self.data_capture_bucket = data_capture.bucket or create_capture_bucket(
                self,
                key=data_capture.kms_key,
                removal_policy=capture_bucket_removal_policy,
                access_logs=capture_access_logs,
                access_logs_bucket=capture_access_logs_bucket,
                access_logs_prefix=capture_access_logs_prefix,
            )
            prefix = (data_capture.prefix or "").strip("/")
            capture_destination = f"s3://{self.data_capture_bucket.bucket_name}/{prefix}".rstrip("/")
        if capture_access_logs_bucket is not None and (data_capture is None or data_capture.bucket is not None):
            Annotations.of(self).add_warning_v2(
                "shadow-test:capture-access-logs-unused",
                "capture_access_logs_bucket applies only to a capture bucket the construct creates: it is ignored",
            )

        provider = ShadowTestProvider.of(
            self, query_interval=query_interval, total_timeout=total_timeout, log_retention=log_retention
        )
        self.role: iam.IRole = role or iam.Role(
            self,
            "Role",
            assumed_by=service_principal(EXPERIMENT_TRUST, provider.placeholders),
            description="Assumed by SageMaker to run a shadow test on one endpoint",
        )
        if role is None:
            grant_shadow_test(
                self.role,
                provider.placeholders,
                endpoint_name=endpoint_name,
                model_names=[production_variant.model_name, shadow_variant.model_name],
                capture_bucket=self.data_capture_bucket,
                capture_prefix=data_capture.prefix if data_capture else None,
            )
        grant_volume_key(self.role, provider.placeholders, kms_key)
        if data_capture is not None and data_capture.kms_key is not None:
            grant_capture_key(self.role, data_capture.kms_key)
        for bucket in artifact_buckets or ():
            bucket.grant_read(self.role)
        for repository in ecr_repositories or ():
            repository.grant_pull(self.role)

        provider.grant_experiment(role=self.role)
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={
                **settings.to_properties(
                    {
                        **values,
                        "role": self.role.role_arn,
                        "data_capture.destination": capture_destination,
                        "tags": rendered_tags_lazy(self.tags),
                    }
                ),
                DEPLOY_TIME_CHECKS: deferred,
            },
        )
        # SageMaker must be allowed to use everything before the experiment starts: wait for the
        # role's policy (the role itself is already referenced through RoleArn).
        role_policy = self.role.node.try_find_child("DefaultPolicy")
        if role_policy is not None:
            self.resource.node.add_dependency(role_policy)
        self.experiment_arn: str = self.resource.get_att_string("ExperimentArn")
        self.experiment_name: str = self.resource.ref
        CfnOutput(self, "ExperimentArn", value=self.experiment_arn, description=f"ARN of the shadow test {path}")
        # cdk-nag findings and checkov checks on the construct's own resources, with reasons (docs/security.md).
        provider.own_findings.add(self, EXPERIMENT, path=path)
        #: CloudWatch metrics of each variant (see ``add_dashboard``, ``add_regression_alarms``); plain
        #: values, no jsii round trip until a metric is asked for.
        self.production = VariantMetrics(endpoint_name=endpoint_name, variant_name=production_variant.variant_name)
        self.shadow = VariantMetrics(endpoint_name=endpoint_name, variant_name=shadow_variant.variant_name)

    def add_automatic_conclusion(
        self,
        *,
        judge_every: Duration = DEFAULT_JUDGE_EVERY,
        period: Duration = DEFAULT_PERIOD,
        promote: bool = False,
        alarms: Sequence[cloudwatch.IAlarm] | None = None,
        evidence_bucket: s3.IBucket | None = None,
        evidence_prefix: str = DEFAULT_EVIDENCE_PREFIX,
        topic: sns.ITopic | None = None,
        margins: Margins | None = None,
        failures_before_alert: int = 3,
    ) -> AutomaticConclusion:
        """Conclude the test automatically: a look every ``judge_every``, a stop when an alarm fires.

        At each look the stack's conclusion function reads both variants' per-period metrics since
        the experiment's start (as ``shadow-test report`` does) and takes the verdict: a proven
        regression stops the test at once (shadow ``Remove``, production ``Retain``, ``Cancelled``);
        a proven non-inferiority promotes the shadow only with ``promote=True`` and only at the last
        look before the schedule's end. Too little data, no traffic or unreadable metrics never act.
        Each conclusion is an event on the default bus (source ``cdk-shadow-test``, detail-type
        ``Shadow Test Conclusion``); each look's data is saved for ``shadow-test judge``.

        :param judge_every: time between two looks, whole minutes. Default: 1 hour.
        :param period: length of each compared period, whole minutes. Default: 5 minutes.
        :param promote: promote the shadow at the last look when it is proven non-inferior.
            Default: False (the test ends with the schedule; the event says it passed).
        :param alarms: alarms that stop the test when they enter ``ALARM``; ``[]`` for none.
            Default: the experiment's latency and error-rate regression alarms, when
            ``add_regression_alarms`` is called (before or after). That is safe: a stop removes
            only the shadow and keeps production serving, so a false alarm costs the test, never
            production traffic; those alarms compare the shadow with production over the same
            periods (a load spike slowing both does not fire them) and treat missing data as not
            breaching (an idle endpoint does not fire them). The missing-shadow-invocations alarm
            is not watched: no traffic is not a regression.
        :param evidence_bucket: where each look's per-period data is written, under
            ``evidence_prefix``. Default: the capture bucket when data capture is on, else none.
        :param evidence_prefix: the key prefix of the evidence, ending with ``/``. Default: ``verdicts/``.
        :param topic: an SNS topic that also receives each conclusion. Default: none.
        :param margins: the verdict's margins. Default: ``Margins()`` (as the CLI).
        :param failures_before_alert: looks in a row that could not read the metrics before that
            is published (and again every as many). Default: 3.
        :returns: the construct holding the schedule and alarm rules.
        """
        if self._conclusion is not None:
            raise RuntimeError(f"{self.node.path} already has an automatic conclusion")
        follows_own = alarms is None
        self._conclusion = AutomaticConclusion(
            self,
            "AutomaticConclusion",
            judge_every=judge_every,
            period=period,
            promote=promote,
            alarms=alarms,
            evidence_bucket=evidence_bucket or self.data_capture_bucket,
            evidence_prefix=evidence_prefix,
            topic=topic,
            margins=margins or Margins(),
            failures_before_alert=failures_before_alert,
        )
        if follows_own:
            own = [self.node.try_find_child(id) for id in (LATENCY_ALARM_ID, ERROR_RATE_ALARM_ID)]
            self._conclusion.watch([alarm for alarm in own if isinstance(alarm, cloudwatch.Alarm)])
        return self._conclusion

    def _regression_alarms_added(self, alarms: list[cloudwatch.Alarm]) -> None:
        if self._conclusion is not None and self._conclusion.follows_regression_alarms:
            self._conclusion.watch(alarms)

    def grant_read_verdict(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` run ``shadow-test report`` and ``judge`` on this test.

        Describing this experiment, and ``cloudwatch:GetMetricData`` (which takes only Resource
        ``*``); and reading the saved evidence when an automatic conclusion writes it.
        """
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(READ_VERDICT.actions),
            resource_arns=[self.experiment_arn],
        )
        grantee.grant_principal.add_to_principal_policy(
            policy_statement(READ_VERDICT_METRICS, ShadowTestProvider.of(self).placeholders)
        )
        if self._conclusion is not None and self._conclusion.evidence_bucket is not None:
            self._conclusion.evidence_bucket.grant_read(grantee, f"{self._conclusion.evidence_prefix}*")
        return grant

    @property
    def tags(self) -> TagManager:
        """The experiment's tags: the ``tags`` prop and what ``Tags.of(scope)`` adds (the prop wins on a key)."""
        return self._tags

    def add_capture_table(
        self,
        *,
        start: datetime | None = None,
        database_name: str | None = None,
        table_name: str | None = None,
        workgroup_name: str | None = None,
        bytes_scanned_cutoff: int | None = None,
    ) -> CaptureTable:
        """Define the data capture as an Athena table, and a workgroup to query it (``compare --engine athena``).

        Creates a Glue database and table over the capture prefix, partitioned by variant and UTC hour
        through partition projection (no crawler, no ``MSCK REPAIR TABLE``), and an Athena workgroup
        that enforces its configuration and writes its results, encrypted with the capture key (SSE-KMS)
        when there is one and SSE-S3 otherwise, under ``_athena_results/`` of the capture prefix. The
        names are stack outputs. See docs/athena.md.

        :param start: the first hour the table reaches. Default: the schedule's ``start_time`` when
            given, else one year before each query (``NOW-1YEARS``).
        :param database_name: the Glue database's name. Default: ``shadow_test_`` and the construct's unique id.
        :param table_name: the Glue table's name. Default: ``capture``.
        :param workgroup_name: the Athena workgroup's name. Default: ``shadow-test-`` and the construct's unique id.
        :param bytes_scanned_cutoff: Athena cancels a query of the workgroup that scans more bytes (at
            least 10 MB). Default: no limit.
        :raises ValidationError: without ``data_capture``, when called twice, or with an invalid prop.
        """
        problems = []
        if self.data_capture is None or self.data_capture_bucket is None:
            problems.append("data_capture: add_capture_table needs data capture (got none; pass data_capture=...)")
        if self.capture_table is not None:
            problems.append("add_capture_table: called twice (allowed: once per experiment, use capture_table)")
        if problems:
            raise ValidationError(self.node.path, problems)
        assert self.data_capture is not None and self.data_capture_bucket is not None
        self.capture_table = CaptureTable(
            self,
            CAPTURE_TABLE_ID,
            location=CaptureDestination(
                bucket=self.data_capture_bucket,
                prefix=(self.data_capture.prefix or "").strip("/"),
                key=self.data_capture.kms_key or self.data_capture_bucket.encryption_key,
                endpoint_name=self.endpoint_name,
                variant_names=(self.production_variant.variant_name, self.shadow_variant.variant_name),
            ),
            start=start or self._schedule_start,
            database_name=database_name,
            table_name=table_name,
            workgroup_name=workgroup_name,
            bytes_scanned_cutoff=bytes_scanned_cutoff,
        )
        return self.capture_table

    def grant_query_capture(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` query the capture table with Athena, e.g. to run ``shadow-test compare --engine athena``.

        Grants what ``grant_read_capture`` grants, and: ``athena:StartQueryExecution``,
        ``GetQueryExecution``, ``GetQueryResults`` and ``StopQueryExecution`` on the workgroup;
        ``glue:GetDatabase``, ``GetTable`` and ``GetPartitions`` on the catalog, database and table;
        ``s3:GetBucketLocation`` on the capture bucket and ``s3:GetObject``, ``PutObject`` and
        ``AbortMultipartUpload`` under the results prefix; ``kms:GenerateDataKey`` on the capture key.

        :raises ValidationError: before ``add_capture_table``.
        """
        if self.capture_table is None or self.data_capture is None:
            raise ValidationError(
                self.node.path, ["grant_query_capture: no capture table (call add_capture_table first)"]
            )
        return grant_query_capture(
            grantee,
            owner=self,
            table=self.capture_table,
            data_capture=self.data_capture,
            own_findings=ShadowTestProvider.of(self).own_findings,
        )

    #: Reference a shadow test created elsewhere (``from_experiment_name(scope, id, experiment_name, *,
    #: endpoint_name, production_variant_name, shadow_variant_name)``), with the same metric,
    #: dashboard and alarm helpers.
    from_experiment_name = staticmethod(import_experiment)
