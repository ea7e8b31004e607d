"""The custom-resource provider: one per stack, shared by every experiment in it."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from constructs_pkg.errors import ValidationError
from constructs_pkg.lambda_code import core_code
from constructs_pkg.security import provider_roles as declared
from constructs_pkg.security.acknowledgements import OwnFindings
from constructs_pkg.security.declaration import Placeholders, policy_statement, service_principal
from shadow_test_core import consts

#: Default time between two ``is_complete`` polls (the handler assumes the same when not told).
DEFAULT_QUERY_INTERVAL = Duration.seconds(consts.DEFAULT_QUERY_INTERVAL_SECONDS)
#: Default time a request may take, under CloudFormation's one-hour custom-resource limit.
DEFAULT_TOTAL_TIMEOUT = Duration.minutes(45)
#: Default retention of the handler's logs.
DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
#: The handler's runtime: the newest Python that aws-cdk-lib offers (tests/test_security.py checks).
HANDLER_RUNTIME = lambda_.Runtime.PYTHON_3_14

_ID = declared.PROVIDER_ID
_FRAMEWORK_MEMORY_MB = 256
#: One invocation (an on_event or one poll) makes a few SageMaker calls with the client's retries.
_HANDLER_TIMEOUT = Duration.minutes(2)
_FRAMEWORK_FUNCTIONS = ("framework-onEvent", "framework-isComplete", "framework-onTimeout")
#: Sid of the statement the provider adds to ``encryption_key``'s key policy.
LOGS_KEY_POLICY_SID = declared.LOGS_KEY_POLICY_SID


class ShadowTestProvider(Construct):
    """The handler function and the Provider framework behind ``ShadowTestExperiment``.

    One Lambda function serves both of the framework's user handlers, ``on_event`` and
    ``is_complete`` (``shadow_test_core.experiment.handler.handle`` routes each invocation).

    Use :meth:`of` rather than the constructor: it returns the stack's single instance.

    Every function logs JSON to a log group with ``log_retention``, is traced with X-Ray and runs
    with a role without AWS managed policies; the framework's waiter state machine is traced too.
    See docs/security.md.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        query_interval: Duration,
        total_timeout: Duration,
        log_retention: logs.RetentionDays,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        #: The stack's partition, region and account for the declared statements, read once per stack.
        self.placeholders = Placeholders.of(Stack.of(self))
        self.query_interval = query_interval
        self.total_timeout = total_timeout
        self.log_retention = log_retention
        self.encryption_key = encryption_key
        if encryption_key is not None:
            self._allow_logs_to_use(encryption_key)
        code = core_code(consts.HANDLER_MODULE)
        self._pass_role: iam.PolicyStatement | None = None
        #: The construct the provider was created for, and who chose each shared setting (for errors).
        self._created_for = scope.node.path
        self._chosen_by: dict[str, str] = {}
        self._passable_roles: set[str] = set()
        self.handler_role = iam.Role(
            self,
            "HandlerRole",
            assumed_by=service_principal(declared.HANDLER_TRUST, self.placeholders),
            description="ShadowTestExperiment custom-resource handler",
        )
        # One function serves the framework's onEvent and isComplete (it routes on the event): one
        # function, log group and cold start fewer than a function per entry point.
        self.handler_function = self._function(declared.HANDLER_FUNCTION_ID, code, consts.DISPATCH_ENTRY)

        framework_logs = self._log_group("ProviderLogs")
        on_event_role, complete_role = (self._framework_role(id, framework_logs) for id in declared.FRAMEWORK_ROLE_IDS)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.handler_function,
            is_complete_handler=self.handler_function,
            query_interval=query_interval,
            total_timeout=total_timeout,
            log_group=framework_logs,
            framework_on_event_role=on_event_role,
            framework_complete_and_timeout_role=complete_role,
            provider_function_env_encryption=encryption_key,
            # The waiter's execution history records its steps. CloudWatch Logs delivery would make
            # aws-cdk-lib grant logs:PutLogEvents on every log group (docs/security.md).
            disable_waiter_state_machine_logging=True,
        )
        self._configure_framework()
        self.service_token = self.provider.service_token
        self._grant_experiment_lifecycle()
        #: cdk-nag findings and checkov checks on the stack's own resources (the provider's and each
        #: experiment's), with reasons (docs/security.md), applied once when the app is synthesized.
        self.own_findings = OwnFindings(self, self.placeholders)

    def _log_group(self, id: str) -> logs.LogGroup:
        return logs.LogGroup(self, id, retention=self.log_retention, encryption_key=self.encryption_key)

    def _function(self, id: str, code: lambda_.Code, handler: str) -> lambda_.Function:
        log_group = self._log_group("HandlerLogs")
        log_group.grant_write(self.handler_role)
        return lambda_.Function(
            self,
            id,
            runtime=HANDLER_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=code,
            handler=handler,
            timeout=_HANDLER_TIMEOUT,
            memory_size=256,
            role=self.handler_role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            # The handler fails with the last status it saw shortly before the framework's timeout.
            environment={
                consts.ENV_TOTAL_TIMEOUT: str(int(self.total_timeout.to_seconds())),
                consts.ENV_QUERY_INTERVAL: str(int(self.query_interval.to_seconds())),
            },
            environment_encryption=self.encryption_key,
            description="ShadowTestExperiment custom resource: SageMaker inference experiments",
        )

    def _framework_role(self, id: str, log_group: logs.ILogGroup) -> iam.Role:
        """A Provider-framework role: its logs and traces; the framework adds its invoke grants."""
        role = iam.Role(
            self,
            id,
            assumed_by=service_principal(declared.FRAMEWORK_TRUST[id], self.placeholders),
            description="ShadowTestExperiment Provider framework",
        )
        log_group.grant_write(role)
        role.add_to_principal_policy(policy_statement(declared.FRAMEWORK_TRACING[id], self.placeholders))
        return role

    def _configure_framework(self) -> None:
        """What the Provider framework has no prop for: tracing and explicit memory of its functions and waiter."""
        for id in _FRAMEWORK_FUNCTIONS:
            function = self.provider.node.find_child(id)
            assert isinstance(function.node.default_child, lambda_.CfnFunction)
            function.node.default_child.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode="Active")
            function.node.default_child.memory_size = _FRAMEWORK_MEMORY_MB
        waiter = self.provider.node.find_child("waiter-state-machine")
        state_machine = waiter.node.find_child("Resource")
        assert isinstance(state_machine, sfn.CfnStateMachine)
        state_machine.tracing_configuration = sfn.CfnStateMachine.TracingConfigurationProperty(enabled=True)
        role = waiter.node.find_child("Role")
        assert isinstance(role, iam.Role)
        role.add_to_principal_policy(policy_statement(declared.WAITER_TRACING, self.placeholders))

    def _allow_logs_to_use(self, key: kms.IKey) -> None:
        """Let CloudWatch Logs encrypt this account's and region's log groups with ``key``.

        Only a key of this app can be changed; give an imported key that statement yourself.
        """
        key.add_to_resource_policy(policy_statement(declared.LOGS_KEY_POLICY, self.placeholders))

    def _grant_experiment_lifecycle(self) -> None:
        for statement in (declared.LIFECYCLE, declared.CHECK_SHADOWED_ENDPOINTS, declared.FIND_ACTIVE_EXPERIMENTS):
            self.handler_role.add_to_principal_policy(policy_statement(statement, self.placeholders))

    def grant_experiment(self, *, role: iam.IRole) -> None:
        """Let the handler pass ``role`` to SageMaker, and to SageMaker only.

        Every experiment adds its role's ARN to the same statement, so the handler's policy grows
        by one ARN per experiment rather than by a statement.
        """
        role_arn = role.role_arn  # one jsii round trip, not three: this runs once per experiment
        if role_arn in self._passable_roles:
            return
        self._passable_roles.add(role_arn)
        if self._pass_role is None:
            self._pass_role = policy_statement(declared.PASS_EXPERIMENT_ROLES, self.placeholders, resources=[role_arn])
            self.handler_role.add_to_principal_policy(self._pass_role)
        else:
            self._pass_role.add_resources(role_arn)

    @classmethod
    def of(
        cls,
        scope: Construct,
        *,
        query_interval: Duration | None = None,
        total_timeout: Duration | None = None,
        log_retention: logs.RetentionDays | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> ShadowTestProvider:
        """The stack's provider, created on first use.

        Settings given by a later experiment must agree with the provider's (they are shared): a
        different value raises :class:`ValidationError` naming ``scope``, the experiment that chose
        the value (or the default) and the fix.
        To set ``encryption_key``, call ``ShadowTestProvider.of(stack, encryption_key=key)``
        before creating the stack's first experiment.

        :param encryption_key: the key encrypting the provider's log groups and the Provider
            framework functions' environment variables. The provider adds a statement letting
            CloudWatch Logs use it to the key policy of a key of this app; an imported key must
            allow it already (see docs/security.md). Default: encryption by CloudWatch Logs and
            AWS Lambda with AWS owned and AWS managed keys.
        """
        stack = Stack.of(scope)
        existing = stack.node.try_find_child(_ID)
        given = {"query_interval": query_interval, "total_timeout": total_timeout, "log_retention": log_retention}
        if existing is None:
            provider = cls(
                stack,
                _ID,
                query_interval=query_interval or DEFAULT_QUERY_INTERVAL,
                total_timeout=total_timeout or DEFAULT_TOTAL_TIMEOUT,
                log_retention=log_retention or DEFAULT_LOG_RETENTION,
                encryption_key=encryption_key,
            )
            provider._created_for = scope.node.path
            provider._chosen_by = {prop: scope.node.path for prop, value in given.items() if value is not None}
            return provider
        assert isinstance(existing, ShadowTestProvider)
        problems = [
            existing._conflict(prop, _words(wanted), _words(actual))
            for prop, wanted, actual in (
                ("query_interval", query_interval, existing.query_interval),
                ("total_timeout", total_timeout, existing.total_timeout),
                ("log_retention", log_retention, existing.log_retention),
            )
            if wanted is not None and _words(wanted) != _words(actual)
        ]
        if encryption_key is not None and encryption_key is not existing.encryption_key:
            problems.append(
                f"encryption_key: the provider {existing.node.path}, which every experiment of the stack shares, "
                "was already created with "
                + ("another key" if existing.encryption_key is not None else "no key")
                + f" (for {existing._created_for}). Fix: call ShadowTestProvider.of(stack, encryption_key=key) "
                "before the stack's first experiment"
            )
        if problems:
            raise ValidationError(scope.node.path, problems)
        for prop, value in given.items():
            if value is not None:
                existing._chosen_by.setdefault(prop, scope.node.path)
        return existing

    def _conflict(self, prop: str, wanted: str, actual: str) -> str:
        """One experiment's value of a shared setting against the provider's: who chose it, and the fix."""
        chooser = self._chosen_by.get(prop)
        source = f"set by {chooser}" if chooser else f"the default, as {self._created_for} left it out"
        return (
            f"{prop}: {wanted} conflicts with {actual} ({source}) of the provider {self.node.path}, which every "
            f"experiment of the stack shares. Fix: set {prop} to the same value on every experiment of the stack "
            f"that sets it, including the first one ({self._created_for}), which creates the provider; or leave it "
            "out here"
        )


def _words(value: Duration | logs.RetentionDays) -> str:
    """A shared setting as the error states it: seconds for a duration, the enum name for a retention."""
    if isinstance(value, Duration):
        return f"{value.to_seconds():.0f} s"
    return value.name
