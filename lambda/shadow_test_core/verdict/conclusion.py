"""What the conclusion function does at a look or an alarm: a pure decision, no I/O.

At each look (every ``judge_every``) the verdict over all periods since the experiment's start
decides: a proven regression stops the experiment at once with the shadow removed and production
retained; a proven non-inferiority promotes the shadow only when asked, and only at the last look
before the schedule's end (the look at which less than one ``judge_every`` remains), since the
endpoint reverts to production when the schedule ends. An alarm in ``ALARM`` stops at once.

Nothing is done to an experiment that is not ``Running``: a second delivery of an alarm after the
stop, or a look after the schedule's end, finds it ``Stopping``, ``Completed`` or ``Cancelled``.
Metrics that cannot be read, too little data and no traffic never act; they are counted, and the
conclusions worth a human's attention are published (:attr:`Conclusion.publish`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from shadow_test_core.verdict.judge import Report, Verdict

__all__ = [
    "ALARM",
    "NONE",
    "PROMOTE",
    "STOP",
    "Conclusion",
    "Outcome",
    "conclude_alarm",
    "conclude_look",
    "look_number",
]

#: Actions: stop (shadow Remove, production Retain, Cancelled), promote (shadow Promote), none.
STOP = "stop"
PROMOTE = "promote"
NONE = "none"
#: The CloudWatch alarm state that stops an experiment.
ALARM = "ALARM"
_RUNNING = "Running"


class Outcome:
    """Names of the conclusions, as the published event's ``outcome`` spells them."""

    STOPPED = "stopped"
    PROMOTED = "promoted"
    #: The last look, and the verdict proves non-inferiority, but promotion was not asked for.
    PASSED = "passed"
    INCONCLUSIVE = "inconclusive"
    UNREADABLE = "metrics unreadable"
    NOT_ENOUGH_DATA = "not enough data"
    NO_TRAFFIC = "no traffic"
    NON_INFERIOR_SO_FAR = "non-inferior so far"
    NOT_RUNNING = "not running"
    ENDED = "already ended"
    OTHER_ALARM = "alarm not of this experiment"
    ALARM_NOT_FIRING = "alarm not in ALARM"


@dataclass(frozen=True, kw_only=True)
class Conclusion:
    """The decision of one look or alarm.

    :param action: ``stop``, ``promote`` or ``none``.
    :param outcome: one of :class:`Outcome`.
    :param reason: a sentence a human can act on; the ``Reason`` of a stop request.
    :param publish: whether the conclusion is published (event, and the topic when given).
    """

    action: str
    outcome: str
    reason: str
    publish: bool


def look_number(*, start: datetime, end: datetime | None, now: datetime, judge_every: timedelta) -> tuple[int, int]:
    """This look's number (1 at the first ``judge_every`` after ``start``) and the looks planned until ``end``.

    Without an end, as many looks are planned as have been made.
    """
    every = judge_every.total_seconds()
    number = max(1, math.floor((now - start).total_seconds() / every))
    planned = max(number, math.floor((end - start).total_seconds() / every)) if end is not None else number
    return number, planned


def _inactive(status: str) -> Conclusion | None:
    if status in ("Completed", "Cancelled"):
        return Conclusion(action=NONE, outcome=Outcome.ENDED, reason=f"the experiment is {status}", publish=False)
    if status != _RUNNING:
        return Conclusion(
            action=NONE, outcome=Outcome.NOT_RUNNING, reason=f"the experiment is {status}, not Running", publish=False
        )
    return None


def conclude_alarm(*, status: str, alarm_state: str, alarm_is_watched: bool, alarm_name: str) -> Conclusion:
    """An alarm's state change: stop a running experiment when one of its alarms enters ``ALARM``."""
    if not alarm_is_watched:
        return Conclusion(
            action=NONE,
            outcome=Outcome.OTHER_ALARM,
            reason=f"alarm {alarm_name} is not one this experiment is stopped by",
            publish=False,
        )
    if alarm_state != ALARM:
        return Conclusion(
            action=NONE, outcome=Outcome.ALARM_NOT_FIRING, reason=f"alarm {alarm_name} is {alarm_state}", publish=False
        )
    inactive = _inactive(status)
    if inactive is not None:
        return inactive
    return Conclusion(
        action=STOP, outcome=Outcome.STOPPED, reason=f"alarm {alarm_name} entered ALARM: shadow removed", publish=True
    )


def conclude_look(
    *,
    status: str,
    schedule_end: datetime | None,
    now: datetime,
    judge_every: timedelta,
    report: Report | None,
    promote: bool,
    read_failures: int,
    failures_before_alert: int,
) -> Conclusion:
    """A scheduled look's decision.

    :param status: the experiment's status, as SageMaker describes it.
    :param schedule_end: the schedule's end, as SageMaker describes it (none: no last look).
    :param report: the verdict over every period since the start; none when the metrics could
        not be read.
    :param promote: whether a proven non-inferiority promotes the shadow at the last look.
    :param read_failures: looks in a row, this one included, that could not read the metrics.
    :param failures_before_alert: after this many in a row (and every as many more), publish.
    """
    inactive = _inactive(status)
    if inactive is not None:
        return inactive
    if report is None:
        alert = read_failures >= failures_before_alert and read_failures % failures_before_alert == 0
        return Conclusion(
            action=NONE,
            outcome=Outcome.UNREADABLE,
            reason=f"could not read the metrics at {read_failures} look(s) in a row",
            publish=alert,
        )
    if report.verdict is Verdict.HOLD:
        failed = ", ".join(check.message for check in report.checks if check.status == "fail")
        return Conclusion(
            action=STOP, outcome=Outcome.STOPPED, reason=f"regression proven: {failed}; shadow removed", publish=True
        )
    last = schedule_end is not None and schedule_end - now < judge_every
    if report.verdict is Verdict.PROMOTE:
        if last and promote:
            return Conclusion(
                action=PROMOTE,
                outcome=Outcome.PROMOTED,
                reason="non-inferiority proven at the last look: shadow promoted",
                publish=True,
            )
        if last:
            return Conclusion(
                action=NONE,
                outcome=Outcome.PASSED,
                reason="non-inferiority proven at the last look; promote was not asked for",
                publish=True,
            )
        return Conclusion(
            action=NONE,
            outcome=Outcome.NON_INFERIOR_SO_FAR,
            reason="non-inferiority proven so far; the last look decides",
            publish=False,
        )
    usable = report.periods_total - report.periods_without_traffic
    outcome = Outcome.NO_TRAFFIC if usable == 0 else Outcome.NOT_ENOUGH_DATA
    why = (
        f"no period with traffic in both variants out of {report.periods_total}"
        if usable == 0
        else f"not enough data in {usable} usable period(s) to decide"
    )
    if last:
        return Conclusion(
            action=NONE, outcome=Outcome.INCONCLUSIVE, reason=f"inconclusive at the end: {why}", publish=True
        )
    return Conclusion(action=NONE, outcome=outcome, reason=why, publish=False)
