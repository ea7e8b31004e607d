"""Dashboards, comparison metrics and regression alarms for shadow tests.

``ExperimentMonitoringMixin`` gives any construct that knows its production
and shadow variants the same monitoring API, whether the experiment was
created in this app (``ShadowTestExperiment``) or elsewhere
(``ImportedShadowTestExperiment``, in ``imported_experiment.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from constructs_pkg.errors import ValidationError
from constructs_pkg.monitoring.comparison_metrics import DEFAULT_PERIOD as _DEFAULT_PERIOD
from constructs_pkg.monitoring.comparison_metrics import ComparisonMetricsMixin
from constructs_pkg.monitoring.dashboard_layout import FULL_WIDTH, GRAPH_GROUPS, GRAPH_HEIGHT, HALF_WIDTH, variant_graph
from constructs_pkg.monitoring.metrics import VariantMetrics

if TYPE_CHECKING:
    pass

__all__ = [
    "DASHBOARD_ID",
    "ERROR_RATE_ALARM_ID",
    "LATENCY_ALARM_ID",
    "MISSING_SHADOW_INVOCATIONS_ALARM_ID",
    "ExperimentMonitoringMixin",
]

DASHBOARD_ID = "Dashboard"
"""Construct id of the dashboard made by ``add_dashboard``."""

LATENCY_ALARM_ID = "LatencyRegressionAlarm"
"""Construct id of the latency alarm made by ``add_regression_alarms``."""

ERROR_RATE_ALARM_ID = "ErrorRateRegressionAlarm"
"""Construct id of the 5XX error-rate alarm made by ``add_regression_alarms``."""

MISSING_SHADOW_INVOCATIONS_ALARM_ID = "MissingShadowInvocationsAlarm"
"""Construct id of the no-shadow-traffic alarm made by ``add_regression_alarms``."""


class ExperimentMonitoringMixin(ComparisonMetricsMixin):
    """Monitoring API for a shadow test, mixed into a ``constructs.Construct``.

    Use it as the first base class, before ``Construct``::

        class MyExperiment(ExperimentMonitoringMixin, Construct):
            def __init__(self, scope, id):
                super().__init__(scope, id)
                self.experiment_name = "my-experiment"
                self.production = VariantMetrics(endpoint_name="ep", variant_name="prod")
                self.shadow = VariantMetrics(endpoint_name="ep", variant_name="shadow")

    The class must set ``production``, ``shadow`` and ``experiment_name``
    (which may be tokens) before any method is called. The dashboard and the
    alarms are created as children of the construct with fixed ids
    (``DASHBOARD_ID``, ``LATENCY_ALARM_ID``, ``ERROR_RATE_ALARM_ID``,
    ``MISSING_SHADOW_INVOCATIONS_ALARM_ID``), so ``add_dashboard`` and
    ``add_regression_alarms`` can both be called on one experiment, but each
    only once.
    """

    production: VariantMetrics
    """Metrics of the production (source) variant."""

    shadow: VariantMetrics
    """Metrics of the shadow variant."""

    experiment_name: str
    """Name of the inference experiment; may be a token."""

    # -- dashboard -----------------------------------------------------------------

    def dashboard_widgets(self, *, period: Duration = _DEFAULT_PERIOD) -> list[list[cloudwatch.IWidget]]:
        """The rows of widgets that ``add_dashboard`` puts on its dashboard.

        Use it to embed the shadow test into a dashboard of your own
        (``dashboard.add_widgets(*row)`` for each row).

        Rows, top to bottom: a title text widget; the latency ratio and the
        5XX error-rate delta; then one row per metric group with production
        on the left and shadow on the right: model latency p50/p90/p99,
        errors 4XX/5XX/model, invocations, CPU/memory/disk utilization.

        :param period: period of every graphed metric. Default: 5 minutes.
        """
        production, shadow = self._variant_metrics()
        title = cloudwatch.TextWidget(
            markdown=(
                f"# Shadow test {self._experiment_name()}\n"
                f"Endpoint **{production.endpoint_name}**: production variant "
                f"**{production.variant_name}** (left) vs shadow variant "
                f"**{shadow.variant_name}** (right)."
            ),
            width=FULL_WIDTH,
            height=2,
        )
        comparison: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="Latency ratio shadow / production (p99)",
                left=[self.metric_latency_ratio(period=period)],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=1, label="parity")],
                left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
                width=HALF_WIDTH,
                height=GRAPH_HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="5XX error rate delta shadow - production (percentage points)",
                left=[self.metric_error_rate_delta(period=period)],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=0, label="parity")],
                left_y_axis=cloudwatch.YAxisProps(show_units=False),
                width=HALF_WIDTH,
                height=GRAPH_HEIGHT,
            ),
        ]
        rows: list[list[cloudwatch.IWidget]] = [[title], comparison]
        for group in GRAPH_GROUPS:
            rows.append(
                [
                    variant_graph(group, role, variant, period)
                    for role, variant in (("production", production), ("shadow", shadow))
                ]
            )
        return rows

    def add_dashboard(
        self,
        dashboard_name: str | None = None,
        *,
        period: Duration = _DEFAULT_PERIOD,
    ) -> cloudwatch.Dashboard:
        """Create a CloudWatch dashboard comparing production and shadow side by side.

        The dashboard is a child of this construct with id ``"Dashboard"``.
        Calling it a second time raises ``RuntimeError``: put the rows of
        ``dashboard_widgets()`` on a ``cloudwatch.Dashboard`` of your own if
        you need another one.

        :param dashboard_name: name of the dashboard. Default: generated by
            CloudFormation.
        :param period: period of every graphed metric. Default: 5 minutes.
        """
        scope = self._scope()
        if scope.node.try_find_child(DASHBOARD_ID) is not None:
            raise RuntimeError(
                f"{scope.node.path} already has a dashboard (construct id {DASHBOARD_ID!r}); "
                "add_dashboard() can be called once per experiment. To show the experiment on "
                "another dashboard, add the rows of dashboard_widgets() to it."
            )
        return cloudwatch.Dashboard(
            scope,
            DASHBOARD_ID,
            dashboard_name=dashboard_name,
            widgets=self.dashboard_widgets(period=period),
        )

    # -- alarms --------------------------------------------------------------------

    def add_regression_alarms(
        self,
        *,
        latency_ratio_threshold: float = 1.2,
        error_rate_delta_threshold: float = 1.0,
        alarm_on_missing_shadow_invocations: bool = True,
        evaluation_periods: int = 3,
        datapoints_to_alarm: int | None = None,
        period: Duration = _DEFAULT_PERIOD,
    ) -> list[cloudwatch.Alarm]:
        """Create alarms that fire when the shadow variant does worse than production.

        - ``LatencyRegressionAlarm``: shadow p99 ``ModelLatency`` is more than
          ``latency_ratio_threshold`` times production's.
        - ``ErrorRateRegressionAlarm``: shadow 5XX error rate is more than
          ``error_rate_delta_threshold`` percentage points above production's.
        - ``MissingShadowInvocationsAlarm`` (unless disabled): production
          served requests but the shadow variant received none.

        Missing data is treated as not breaching, so an idle endpoint stays
        ``OK``. The alarms have no actions; add them as with any alarm, e.g.
        ``for alarm in alarms: alarm.add_alarm_action(SnsAction(topic))``.
        Calling it a second time raises ``RuntimeError``; invalid options raise ``ValidationError``
        naming this construct and every invalid option.

        :param latency_ratio_threshold: highest acceptable shadow/production
            p99 latency ratio. Default: 1.2.
        :param error_rate_delta_threshold: highest acceptable difference
            between the 5XX error rates, in percentage points. Default: 1.0.
        :param alarm_on_missing_shadow_invocations: whether to create the
            missing-shadow-invocations alarm. Default: True.
        :param evaluation_periods: number of periods evaluated. Default: 3.
        :param datapoints_to_alarm: breaching periods, out of
            ``evaluation_periods``, that trigger the alarm. Default:
            ``evaluation_periods``.
        :param period: period of the alarmed metrics. Default: 5 minutes.
        :returns: the alarms, in the order listed above.
        """
        scope = self._scope()
        _check_alarm_props(
            scope,
            latency_ratio_threshold=latency_ratio_threshold,
            error_rate_delta_threshold=error_rate_delta_threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
        )
        if scope.node.try_find_child(LATENCY_ALARM_ID) is not None:
            raise RuntimeError(
                f"{scope.node.path} already has regression alarms; add_regression_alarms() can be "
                "called once per experiment. Create further alarms from metric_latency_ratio() "
                "and metric_error_rate_delta() with metric.create_alarm(...)."
            )
        production, shadow = self._variant_metrics()
        name = self._experiment_name()
        datapoints = datapoints_to_alarm if datapoints_to_alarm is not None else evaluation_periods
        window = f"{datapoints} of {evaluation_periods} periods of {period.to_human_string()}"

        def alarm(
            construct_id: str,
            metric: cloudwatch.IMetric,
            threshold: float,
            comparison_operator: cloudwatch.ComparisonOperator,
            description: str,
        ) -> cloudwatch.Alarm:
            return cloudwatch.Alarm(
                scope,
                construct_id,
                metric=metric,
                threshold=threshold,
                comparison_operator=comparison_operator,
                evaluation_periods=evaluation_periods,
                datapoints_to_alarm=datapoints,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )

        alarms = [
            alarm(
                LATENCY_ALARM_ID,
                self.metric_latency_ratio(period=period),
                latency_ratio_threshold,
                cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                f"Shadow test {name}: p99 model latency of shadow variant {shadow.variant_name} "
                f"was more than {latency_ratio_threshold:g}x that of production variant "
                f"{production.variant_name} in {window}. The shadow model is slower than the "
                "one it would replace: do not promote it. Compare CPU/memory on the experiment "
                f"dashboard, or run 'shadow-test report {name}'.",
            ),
            alarm(
                ERROR_RATE_ALARM_ID,
                self.metric_error_rate_delta(period=period),
                error_rate_delta_threshold,
                cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                f"Shadow test {name}: 5XX error rate of shadow variant {shadow.variant_name} "
                f"was more than {error_rate_delta_threshold:g} percentage points above that of "
                f"production variant {production.variant_name} in {window}. The shadow model "
                "fails requests that production serves: do not promote it; read the shadow "
                "variant's container logs (/aws/sagemaker/Endpoints/<endpoint>) for the errors.",
            ),
        ]
        if alarm_on_missing_shadow_invocations:
            alarms.append(
                alarm(
                    MISSING_SHADOW_INVOCATIONS_ALARM_ID,
                    self._metric_missing_shadow_invocations(period),
                    1,
                    cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    f"Shadow test {name}: production variant {production.variant_name} served "
                    f"requests but shadow variant {shadow.variant_name} received none in "
                    f"{window}. The experiment is collecting no evidence: check with "
                    f"'shadow-test status {name}' that it is Running, that its sampling "
                    "percentage is above 0 and that its schedule has not ended.",
                )
            )
        return alarms

    # -- helpers -------------------------------------------------------------------

    def _scope(self) -> Construct:
        if not isinstance(self, Construct):
            raise TypeError(
                f"{type(self).__name__} uses ExperimentMonitoringMixin but is not a "
                "constructs.Construct; declare it as `class X(ExperimentMonitoringMixin, Construct)`"
            )
        return self

    def _experiment_name(self) -> str:
        name = getattr(self, "experiment_name", None)
        if not isinstance(name, str):
            raise AttributeError(
                f"{type(self).__name__} must set `experiment_name` (str or token) before using "
                "the ExperimentMonitoringMixin methods"
            )
        return name


def _check_alarm_props(
    scope: Construct,
    *,
    latency_ratio_threshold: float,
    error_rate_delta_threshold: float,
    evaluation_periods: int,
    datapoints_to_alarm: int | None,
) -> None:
    """Every invalid option of ``add_regression_alarms`` at once, naming ``scope``."""
    problems = []
    if latency_ratio_threshold <= 0:
        problems.append(f"latency_ratio_threshold: must be > 0 (got {latency_ratio_threshold})")
    if error_rate_delta_threshold < 0:
        problems.append(f"error_rate_delta_threshold: must be >= 0 (got {error_rate_delta_threshold})")
    if evaluation_periods < 1:
        problems.append(f"evaluation_periods: must be >= 1 (got {evaluation_periods})")
    if datapoints_to_alarm is not None and not 1 <= datapoints_to_alarm <= evaluation_periods:
        problems.append(
            f"datapoints_to_alarm: must be between 1 and evaluation_periods ({evaluation_periods}) "
            f"(got {datapoints_to_alarm})"
        )
    if problems:
        raise ValidationError(scope.node.path, problems)
