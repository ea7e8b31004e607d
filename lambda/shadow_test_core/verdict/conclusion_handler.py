"""The conclusion function's entry point: a look or an alarm, decided, acted on, and left as evidence.

EventBridge invokes :func:`handle` with the rule's target input: the experiment's settings (written
by the construct at synth, see :class:`Settings`) and, under ``event``, the event EventBridge
matched, whole: a ``Scheduled Event`` (a look) or a ``CloudWatch Alarm State Change``.

A look reads the per-period data since the experiment's start as SageMaker describes it (the
reader ``shadow-test report`` uses), judges it, and acts on :mod:`~shadow_test_core.verdict.conclusion`'s
decision. Every look with data writes that data, in the ``shadow-test judge FILE`` format, under
the evidence prefix when a bucket is given; every conclusion worth attention is put on the default
event bus (and published to the topic when given). Logs are one JSON object per line.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from shadow_test_core import consts
from shadow_test_core.experiment.sagemaker_api import (
    create_client,
    error_code,
    is_refusal,
    quiet_botocore_debug_logging,
)
from shadow_test_core.verdict.cloudwatch import fetch_periods
from shadow_test_core.verdict.conclusion import (
    NONE,
    PROMOTE,
    STOP,
    Conclusion,
    conclude_alarm,
    conclude_look,
    look_number,
)
from shadow_test_core.verdict.described import ExperimentInfo, parse_experiment, stop_request_for
from shadow_test_core.verdict.judge import Margins, Report
from shadow_test_core.verdict.looks import Look, judge_look
from shadow_test_core.verdict.period_data import PeriodData, period_data_document
from shadow_test_core.verdict.window import period_window

__all__ = ["ALARM_STATE_CHANGE", "SCHEDULED_EVENT", "Clients", "Settings", "conclude", "handle"]

#: ``detail-type`` of the events the function handles.
SCHEDULED_EVENT = "Scheduled Event"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
_READ_FAILURES_KEY = "read-failures.json"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """One experiment's conclusion settings, as the construct writes them into the rule's input."""

    experiment_arn: str
    judge_every: timedelta
    period_seconds: int
    promote: bool
    margins: Margins
    alarms: tuple[str, ...] = ()
    bucket: str | None = None
    prefix: str = consts.DEFAULT_EVIDENCE_PREFIX
    topic_arn: str | None = None
    failures_before_alert: int = 3

    @property
    def experiment_name(self) -> str:
        return self.experiment_arn.rpartition("/")[2]

    @classmethod
    def from_input(cls, document: dict[str, Any]) -> Settings:
        """Read the rule's input (numbers may arrive as strings, like every CloudFormation value)."""
        margins = document.get("margins") or {}
        return cls(
            experiment_arn=str(document["experiment_arn"]),
            judge_every=timedelta(seconds=int(document["judge_every_seconds"])),
            period_seconds=int(document["period_seconds"]),
            promote=str(document.get("promote", False)).lower() == "true",
            margins=Margins(
                latency_ratio=float(margins.get("latency_ratio", Margins.latency_ratio)),
                error_delta=float(margins.get("error_delta", Margins.error_delta)),
                confidence=float(margins.get("confidence", Margins.confidence)),
                min_periods=int(margins.get("min_periods", Margins.min_periods)),
            ),
            alarms=tuple(str(arn) for arn in document.get("alarms") or ()),
            bucket=document.get("bucket") or None,
            prefix=str(document.get("prefix") or consts.DEFAULT_EVIDENCE_PREFIX),
            topic_arn=document.get("topic_arn") or None,
            failures_before_alert=max(1, int(document.get("failures_before_alert", 3))),
        )


@dataclass
class Clients:
    """The AWS clients the function calls; created once per execution environment."""

    sagemaker: Any
    cloudwatch: Any
    events: Any
    s3: Any = None
    sns: Any = None

    @classmethod
    def create(cls) -> Clients:
        import boto3

        quiet_botocore_debug_logging()
        return cls(
            sagemaker=create_client(),
            cloudwatch=boto3.client("cloudwatch"),
            events=boto3.client("events"),
            s3=boto3.client("s3"),
            sns=boto3.client("sns"),
        )


_clients: Clients | None = None


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point: ``event`` is the rule's input, the matched event under ``event``."""
    global _clients
    if _clients is None:
        _clients = Clients.create()
    return conclude(Settings.from_input(event), event["event"], _clients, now=datetime.now(timezone.utc))


def _log(message: str, **fields: Any) -> None:
    print(json.dumps({"message": message, **fields}, default=str), file=sys.stdout, flush=True)


@dataclass
class _Look:
    """What a look found, for the evidence."""

    data: PeriodData | None = None
    report: Report | None = None
    number: int | None = None
    planned: int | None = None
    evidence_key: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def conclude(settings: Settings, event: dict[str, Any], clients: Clients, *, now: datetime) -> dict[str, Any]:
    """Decide on ``event`` for the experiment of ``settings``, act, and leave the evidence; returns the record."""
    kind = event.get("detail-type")
    try:
        experiment = parse_experiment(clients.sagemaker.describe_inference_experiment(Name=settings.experiment_name))
    except Exception as error:
        if error_code(error) == "ResourceNotFound":
            _log("experiment not found", experiment=settings.experiment_name, kind=kind)
            return {"action": NONE, "outcome": "not found"}
        raise
    look = _Look()
    if kind == ALARM_STATE_CHANGE:
        detail = event.get("detail") or {}
        alarm_arns = event.get("resources") or []
        conclusion = conclude_alarm(
            status=experiment.status,
            alarm_state=str((detail.get("state") or {}).get("value", "")),
            alarm_is_watched=any(arn in settings.alarms for arn in alarm_arns),
            alarm_name=str(detail.get("alarmName", "?")),
        )
        look.extra = {"alarm": detail.get("alarmName"), "alarmArn": alarm_arns[0] if alarm_arns else None}
    elif kind == SCHEDULED_EVENT:
        conclusion = _look(settings, experiment, clients, now=now, look=look)
    else:
        _log("ignored event", kind=kind, experiment=experiment.name)
        return {"action": NONE, "outcome": "ignored"}

    sent = _act(conclusion, experiment, clients)
    record = _record(settings, experiment, conclusion, look, now=now, sent=sent)
    _log("concluded", **{k: record[k] for k in ("experiment", "outcome", "action", "reason", "periods")})
    if conclusion.publish and sent is not False:
        _publish(settings, record, clients)
    return record


def _look(
    settings: Settings, experiment: ExperimentInfo, clients: Clients, *, now: datetime, look: _Look
) -> Conclusion:
    start = experiment.schedule_start
    failures = 0
    if experiment.status == "Running" and start is not None:
        look.number, look.planned = look_number(
            start=start, end=experiment.schedule_end, now=now, judge_every=settings.judge_every
        )
        try:
            window = period_window(start, now, period=settings.period_seconds, now=now)
            # The saved data records the look, so `shadow-test judge FILE` re-derives this decision.
            seen = Look(number=look.number, planned=look.planned)
            look.data = replace(fetch_periods(clients.cloudwatch, experiment, window), look=seen)
        except Exception as error:  # any failure to read is a look without data, counted
            look.error = error_code(error) or type(error).__name__
            _log("could not read metrics", experiment=experiment.name, error=look.error)
        if look.data is not None and look.data.look is not None:
            # Repeated looks stay honest: each spends its share of the error (verdict/looks.py).
            look.report = judge_look(look.data, look.data.look, settings.margins)
            look.evidence_key = _write_evidence(settings, experiment, look.data, clients, now=now, number=look.number)
        failures = _count_read_failures(settings, experiment, clients, failed=look.error is not None)
    return conclude_look(
        status=experiment.status,
        schedule_end=experiment.schedule_end,
        now=now,
        judge_every=settings.judge_every,
        report=look.report,
        promote=settings.promote,
        read_failures=failures,
        failures_before_alert=settings.failures_before_alert,
    )


def _act(conclusion: Conclusion, experiment: ExperimentInfo, clients: Clients) -> dict[str, Any] | bool | None:
    """Stop or promote; the request sent, None when nothing was to be done, False when SageMaker refused."""
    if conclusion.action not in (STOP, PROMOTE):
        return None
    request = stop_request_for(
        experiment,
        action="promote" if conclusion.action == PROMOTE else "stop",
        desired_state="Completed" if conclusion.action == PROMOTE else "Cancelled",
        reason=conclusion.reason[:1024],
    )
    try:
        clients.sagemaker.stop_inference_experiment(**request)
    except Exception as error:
        if not is_refusal(error):
            raise
        # Another delivery stopped it between our describe and this call: nothing more to do.
        _log("stop refused", experiment=experiment.name, code=error_code(error))
        return False
    _log("sagemaker call", call="StopInferenceExperiment", experiment=experiment.name, action=conclusion.action)
    return request


def _record(
    settings: Settings,
    experiment: ExperimentInfo,
    conclusion: Conclusion,
    look: _Look,
    *,
    now: datetime,
    sent: dict[str, Any] | bool | None,
) -> dict[str, Any]:
    report = look.report
    record: dict[str, Any] = {
        "experiment": experiment.name,
        "experimentArn": experiment.arn or settings.experiment_arn,
        "endpoint": experiment.endpoint_name,
        "time": now.isoformat(),
        "outcome": conclusion.outcome,
        "action": conclusion.action if isinstance(sent, dict) else NONE,
        "reason": conclusion.reason,
        "status": experiment.status,
        "periods": len(look.data.periods) if look.data is not None else 0,
        **look.extra,
    }
    if look.number is not None:
        record["look"] = {"number": look.number, "planned": look.planned}
    if report is not None:
        record["verdict"] = {
            "verdict": str(report.verdict),
            "periodsTotal": report.periods_total,
            "periodsWithoutTraffic": report.periods_without_traffic,
            "checks": [
                {
                    "name": check.name,
                    "status": str(check.status),
                    "estimate": check.estimate,
                    "lower": check.lower,
                    "upper": check.upper,
                    "margin": check.margin,
                    "unit": check.unit,
                    "periods": check.periods,
                }
                for check in report.checks
            ],
        }
    if look.error is not None:
        record["readError"] = look.error
    if look.evidence_key is not None:
        record["evidence"] = f"s3://{settings.bucket}/{look.evidence_key}"
    if isinstance(sent, dict) and conclusion.action == PROMOTE:
        record["promotedModel"] = experiment.shadow.model_name
        record["promotedVariant"] = experiment.shadow.variant_name
    return record


def _evidence_prefix(settings: Settings, experiment: ExperimentInfo) -> str:
    return f"{settings.prefix}{experiment.name}/"


def _write_evidence(
    settings: Settings,
    experiment: ExperimentInfo,
    data: PeriodData,
    clients: Clients,
    *,
    now: datetime,
    number: int | None,
) -> str | None:
    if settings.bucket is None:
        return None
    key = f"{_evidence_prefix(settings, experiment)}{now:%Y-%m-%dT%H-%M-%SZ}-look-{number}.json"
    body = json.dumps(period_data_document(data), indent=2) + "\n"
    clients.s3.put_object(Bucket=settings.bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return key


def _count_read_failures(settings: Settings, experiment: ExperimentInfo, clients: Clients, *, failed: bool) -> int:
    """Looks in a row that could not read the metrics, kept under the evidence prefix.

    Without a bucket there is nowhere to keep the count, so every failed look counts as enough to
    publish.
    """
    if settings.bucket is None:
        return settings.failures_before_alert if failed else 0
    key = _evidence_prefix(settings, experiment) + _READ_FAILURES_KEY
    previous = 0
    try:
        body = clients.s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
        previous = int(json.loads(body).get("count", 0))
    except Exception as error:
        if error_code(error) not in ("NoSuchKey", "404", "AccessDenied"):
            raise
    count = previous + 1 if failed else 0
    if count != previous:
        clients.s3.put_object(Bucket=settings.bucket, Key=key, Body=json.dumps({"count": count}).encode())
    return count


def _publish(settings: Settings, record: dict[str, Any], clients: Clients) -> None:
    detail = json.dumps(record, default=str)
    response = clients.events.put_events(
        Entries=[
            {
                "Source": consts.CONCLUSION_EVENT_SOURCE,
                "DetailType": consts.CONCLUSION_DETAIL_TYPE,
                "Resources": [record["experimentArn"]],
                "Detail": detail,
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents refused the conclusion event: {response.get('Entries')}")
    if settings.topic_arn is not None:
        clients.sns.publish(
            TopicArn=settings.topic_arn,
            Subject=f"Shadow test {record['experiment']}: {record['outcome']}"[:100],
            Message=detail,
        )
