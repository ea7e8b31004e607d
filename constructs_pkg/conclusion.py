"""The automatic conclusion of a shadow test: a look every ``judge_every``, a stop on an alarm.

:class:`ConclusionFunction` is the stack's one conclusion function (shared by its experiments,
like the provider); :class:`AutomaticConclusion` is one experiment's schedule rule and alarm rule,
created by ``ShadowTestExperiment.add_automatic_conclusion``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

import jsii
from aws_cdk import Duration, IStableListProducer, Lazy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_pkg.errors import ValidationError
from constructs_pkg.lambda_code import core_code
from constructs_pkg.provider import DEFAULT_LOG_RETENTION, HANDLER_RUNTIME, ShadowTestProvider
from constructs_pkg.security import conclusion_roles as declared
from constructs_pkg.security.acknowledgements import CONCLUSION, CONCLUSION_RULE
from constructs_pkg.security.declaration import policy_statement, service_principal
from shadow_test_core import consts
from shadow_test_core.verdict.conclusion_handler import ALARM_STATE_CHANGE
from shadow_test_core.verdict.judge import Margins

if TYPE_CHECKING:
    from constructs_pkg.experiment import ShadowTestExperiment

__all__ = ["DEFAULT_JUDGE_EVERY", "DEFAULT_PERIOD", "AutomaticConclusion", "ConclusionFunction"]

#: Default time between two looks.
DEFAULT_JUDGE_EVERY = Duration.hours(1)
#: Default length of each compared period: the CLI's ``--period`` default.
DEFAULT_PERIOD = Duration.minutes(5)
#: One look reads up to 7 days of periods in a few GetMetricData pages.
_FUNCTION_TIMEOUT = Duration.minutes(2)


class ConclusionFunction(Construct):
    """The function that concludes the stack's shadow tests; use :meth:`of`, which returns the stack's one.

    Its role may describe and stop only the experiments that were given to :meth:`grant_conclude`
    (by ARN), put events only on the default bus, and write only under the evidence prefixes given
    to :meth:`grant_evidence`. See docs/security.md.
    """

    def __init__(self, scope: Construct, id: str, *, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        # The stack's provider reads the stack's placeholders once and acknowledges its own findings.
        self.provider = ShadowTestProvider.of(self)
        stack = self.provider.placeholders
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=service_principal(declared.CONCLUSION_TRUST, stack),
            description="ShadowTestExperiment automatic conclusion",
        )
        log_group = logs.LogGroup(self, "Logs", retention=log_retention)
        log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=HANDLER_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=core_code(consts.CONCLUSION_MODULE),
            handler=consts.CONCLUSION_ENTRY,
            timeout=_FUNCTION_TIMEOUT,
            memory_size=256,
            role=self.role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            description="ShadowTestExperiment automatic conclusion: looks and alarm stops",
        )
        for statement in (declared.READ_METRICS, declared.PUT_CONCLUSION_EVENTS):
            self.role.add_to_principal_policy(policy_statement(statement, stack))
        self._conclude: iam.PolicyStatement | None = None
        self._evidence: iam.PolicyStatement | None = None
        self.provider.own_findings.add(self, CONCLUSION)

    def grant_conclude(self, experiment_arn: str) -> None:
        """Let the function describe and stop this experiment (one statement grows by one ARN)."""
        if self._conclude is None:
            self._conclude = policy_statement(
                declared.STOP_EXPERIMENTS, self.provider.placeholders, resources=[experiment_arn]
            )
            self.role.add_to_principal_policy(self._conclude)
        else:
            self._conclude.add_resources(experiment_arn)

    def grant_evidence(self, bucket: s3.IBucket, prefix: str) -> None:
        """Let the function read and write the objects under ``prefix`` of ``bucket``, and no others."""
        objects = bucket.arn_for_objects(f"{prefix}*")
        if self._evidence is None:
            self._evidence = policy_statement(declared.WRITE_EVIDENCE, self.provider.placeholders, resources=[objects])
            self.role.add_to_principal_policy(self._evidence)
        else:
            self._evidence.add_resources(objects)
        if bucket.encryption_key is not None:
            bucket.encryption_key.grant_encrypt_decrypt(self.role)

    @classmethod
    def of(cls, scope: Construct) -> ConclusionFunction:
        """The stack's conclusion function, created on first use."""
        stack = Stack.of(scope)
        existing = stack.node.try_find_child(declared.CONCLUSION_ID)
        if existing is None:
            return cls(stack, declared.CONCLUSION_ID, log_retention=DEFAULT_LOG_RETENTION)
        assert isinstance(existing, ConclusionFunction)
        return existing


@jsii.implements(IStableListProducer)
class _AlarmArns:
    """The watched alarms' ARNs, read at synth: alarms may be added after the rule."""

    def __init__(self) -> None:
        self.arns: list[str] = []

    def produce(self) -> list[str]:
        return list(self.arns)


class AutomaticConclusion(Construct):
    """One experiment's automatic conclusion: a schedule rule and an alarm rule targeting the stack's function.

    Create it with ``ShadowTestExperiment.add_automatic_conclusion`` (which documents the props).
    """

    def __init__(
        self,
        experiment: ShadowTestExperiment,
        id: str,
        *,
        judge_every: Duration,
        period: Duration,
        promote: bool,
        alarms: Sequence[cloudwatch.IAlarm] | None,
        evidence_bucket: s3.IBucket | None,
        evidence_prefix: str,
        topic: sns.ITopic | None,
        margins: Margins,
        failures_before_alert: int,
    ) -> None:
        super().__init__(experiment, id)
        _check_props(self, judge_every=judge_every, period=period, evidence_prefix=evidence_prefix)
        self.function = ConclusionFunction.of(self)
        self.function.grant_conclude(experiment.experiment_arn)
        if evidence_bucket is not None:
            self.function.grant_evidence(evidence_bucket, evidence_prefix)
        if topic is not None:
            topic.grant_publish(self.function.role)
        self._alarm_arns = _AlarmArns()
        self._experiment_path = experiment.node.path
        #: Whether the experiment's own regression alarms are watched (``alarms`` left out).
        self.follows_regression_alarms = alarms is None
        self.evidence_bucket = evidence_bucket
        self.evidence_prefix = evidence_prefix
        settings = {
            "experiment_arn": experiment.experiment_arn,
            "judge_every_seconds": int(judge_every.to_seconds()),
            "period_seconds": int(period.to_seconds()),
            "promote": promote,
            "margins": asdict(margins),
            "alarms": Lazy.list(self._alarm_arns),
            "bucket": evidence_bucket.bucket_name if evidence_bucket is not None else None,
            "prefix": evidence_prefix,
            "topic_arn": topic.topic_arn if topic is not None else None,
            "failures_before_alert": failures_before_alert,
        }
        #: The target input of both rules: the settings, and the matched event whole.
        self.input = events.RuleTargetInput.from_object({**settings, "event": events.EventField.from_path("$")})
        self.schedule_rule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.rate(judge_every),
            description=f"Shadow test {experiment.node.path}: a look every {judge_every.to_human_string()}",
        )
        self.schedule_rule.add_target(targets.LambdaFunction(self.function.function, event=self.input))
        self.function.provider.own_findings.add(self.schedule_rule, CONCLUSION_RULE)
        self.alarm_rule: events.Rule | None = None
        self.watch(alarms or ())

    def watch(self, alarms: Sequence[cloudwatch.IAlarm]) -> None:
        """Stop the experiment at once when any of ``alarms`` enters ``ALARM``."""
        if not alarms:
            return
        self._alarm_arns.arns.extend(alarm.alarm_arn for alarm in alarms)
        if self.alarm_rule is None:
            self.alarm_rule = events.Rule(
                self,
                "Alarms",
                event_pattern=events.EventPattern(
                    source=["aws.cloudwatch"],
                    detail_type=[ALARM_STATE_CHANGE],
                    resources=Lazy.list(self._alarm_arns),
                    detail={"state": {"value": ["ALARM"]}},
                ),
                description=f"Shadow test {self._experiment_path}: stop when an alarm enters ALARM",
            )
            self.alarm_rule.add_target(targets.LambdaFunction(self.function.function, event=self.input))
            self.function.provider.own_findings.add(self.alarm_rule, CONCLUSION_RULE)


def _check_props(scope: Construct, *, judge_every: Duration, period: Duration, evidence_prefix: str) -> None:
    problems = []
    if not Token.is_unresolved(judge_every.to_seconds()):
        seconds = judge_every.to_seconds()
        if seconds < 60 or seconds % 60:
            problems.append(f"judge_every: must be whole minutes, at least 1 (got {judge_every.to_human_string()})")
        elif seconds < period.to_seconds():
            problems.append(
                f"judge_every: must be at least one period (got {judge_every.to_human_string()}; "
                f"period is {period.to_human_string()})"
            )
    if period.to_seconds() < 60 or period.to_seconds() % 60:
        problems.append(f"period: must be whole minutes, at least 1 (got {period.to_human_string()})")
    if evidence_prefix and not evidence_prefix.endswith("/"):
        problems.append(f"evidence_prefix: must end with '/' (got {evidence_prefix!r})")
    if problems:
        raise ValidationError(scope.node.path, problems)
