"""The custom-resource provider: one per stack, shared by every experiment in it."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from constructs_pkg._handler_code import handler_code_dir

#: Default time between two ``is_complete`` polls: a shadow variant takes minutes to start.
DEFAULT_QUERY_INTERVAL = Duration.seconds(30)
#: Default time a request may take, under CloudFormation's one-hour custom-resource limit.
DEFAULT_TOTAL_TIMEOUT = Duration.minutes(45)
#: Default retention of the handler's logs.
DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_YEAR

_ID = "ShadowTestProvider"
_ASSET_EXCLUDES = ["__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".ruff_cache", ".pytest_cache"]


class ShadowTestProvider(Construct):
    """The handler functions and the Provider framework behind ``ShadowTestExperiment``.

    Use :meth:`of` rather than the constructor: it returns the stack's single instance.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        query_interval: Duration,
        total_timeout: Duration,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id)
        self.query_interval = query_interval
        self.total_timeout = total_timeout
        self.log_retention = log_retention
        code = lambda_.Code.from_asset(str(handler_code_dir()), exclude=_ASSET_EXCLUDES)
        self.on_event_function = self._function("OnEvent", code, "handler.on_event", Duration.minutes(2))
        self.is_complete_function = self._function("IsComplete", code, "handler.is_complete", Duration.minutes(2))
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event_function,
            is_complete_handler=self.is_complete_function,
            query_interval=query_interval,
            total_timeout=total_timeout,
            log_group=logs.LogGroup(self, "ProviderLogs", retention=log_retention),
        )
        self.service_token = self.provider.service_token
        self._grant_experiment_lifecycle()

    def _function(self, id: str, code: lambda_.Code, handler: str, timeout: Duration) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{id}Logs", retention=self.log_retention)
        return lambda_.Function(
            self,
            id,
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            code=code,
            handler=handler,
            timeout=timeout,
            memory_size=256,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            description="ShadowTestExperiment custom resource: SageMaker inference experiments",
        )

    def _grant_experiment_lifecycle(self) -> None:
        stack = Stack.of(self)
        experiments = stack.format_arn(service="sagemaker", resource="inference-experiment", resource_name="*")
        for function in (self.on_event_function, self.is_complete_function):
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="InferenceExperimentLifecycle",
                    actions=[
                        "sagemaker:CreateInferenceExperiment",
                        "sagemaker:DescribeInferenceExperiment",
                        "sagemaker:UpdateInferenceExperiment",
                        "sagemaker:StopInferenceExperiment",
                        "sagemaker:DeleteInferenceExperiment",
                        "sagemaker:AddTags",
                        "sagemaker:ListTags",
                    ],
                    resources=[experiments],
                )
            )

    def grant_experiment(self, *, role: iam.IRole, endpoint_arns: list[str]) -> None:
        """Let the handler pass ``role`` to SageMaker and look at the endpoints it shadows."""
        for function in (self.on_event_function, self.is_complete_function):
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                )
            )
            function.add_to_role_policy(
                iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=endpoint_arns)
            )

    @classmethod
    def of(
        cls,
        scope: Construct,
        *,
        query_interval: Duration | None = None,
        total_timeout: Duration | None = None,
        log_retention: logs.RetentionDays | None = None,
    ) -> ShadowTestProvider:
        """The stack's provider, created on first use.

        Settings given by a later experiment must agree with the provider's (they are shared).
        """
        stack = Stack.of(scope)
        existing = stack.node.try_find_child(_ID)
        if existing is None:
            return cls(
                stack,
                _ID,
                query_interval=query_interval or DEFAULT_QUERY_INTERVAL,
                total_timeout=total_timeout or DEFAULT_TOTAL_TIMEOUT,
                log_retention=log_retention or DEFAULT_LOG_RETENTION,
            )
        assert isinstance(existing, ShadowTestProvider)
        for prop, wanted, actual in (
            ("query_interval", query_interval, existing.query_interval),
            ("total_timeout", total_timeout, existing.total_timeout),
        ):
            if wanted is not None and wanted.to_seconds() != actual.to_seconds():
                raise ValueError(
                    f"{prop}: the stack's experiments share one provider, already set to "
                    f"{actual.to_seconds():.0f} s; got {wanted.to_seconds():.0f} s"
                )
        if log_retention is not None and log_retention != existing.log_retention:
            raise ValueError(
                f"log_retention: the stack's experiments share one provider, already set to {existing.log_retention}"
            )
        return existing
