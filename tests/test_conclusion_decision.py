"""The conclusion function's pure decision: every status, verdict, time and flag combination."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from shadow_test_core.experiment.statuses import STATUSES
from shadow_test_core.verdict.conclusion import (
    NONE,
    PROMOTE,
    STOP,
    Outcome,
    conclude_alarm,
    conclude_look,
    look_number,
)
from shadow_test_core.verdict.judge import Check, CheckStatus, Margins, Report, Verdict

START = datetime(2026, 11, 28, 10, tzinfo=timezone.utc)
END = START + timedelta(days=7)
HOUR = timedelta(hours=1)
LAST_LOOK = END - timedelta(minutes=30)
MIDWAY = START + timedelta(days=3)


def _report(verdict: Verdict, *, periods: int = 48, without_traffic: int = 0) -> Report:
    status = {
        Verdict.HOLD: CheckStatus.FAIL,
        Verdict.PROMOTE: CheckStatus.PASS,
        Verdict.NOT_ENOUGH_DATA: CheckStatus.NOT_ENOUGH_DATA,
    }[verdict]
    check = Check(
        name="latency-p99",
        label="p99",
        unit="ratio",
        status=status,
        estimate=1.3,
        lower=1.25,
        upper=1.35,
        margin=1.2,
        periods=periods - without_traffic,
        message=f"x1.300 {status}",
    )
    return Report(
        experiment="churn",
        period_seconds=300,
        margins=Margins(),
        confidence=0.95,
        checks=(check,),
        verdict=verdict,
        periods_total=periods,
        periods_without_traffic=without_traffic,
    )


def _look(**overrides: object):
    arguments: dict[str, object] = {
        "status": "Running",
        "schedule_end": END,
        "now": MIDWAY,
        "judge_every": HOUR,
        "report": _report(Verdict.NOT_ENOUGH_DATA),
        "promote": False,
        "read_failures": 0,
        "failures_before_alert": 3,
    }
    arguments.update(overrides)
    return conclude_look(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", sorted(STATUSES - {"Running"}))
@pytest.mark.parametrize("verdict", list(Verdict))
@pytest.mark.parametrize("now", [MIDWAY, LAST_LOOK, END + HOUR])
def test_look_never_acts_on_an_experiment_that_is_not_running(status: str, verdict: Verdict, now: datetime) -> None:
    conclusion = _look(status=status, report=_report(verdict), now=now, promote=True)
    assert conclusion.action == NONE
    assert not conclusion.publish
    assert conclusion.outcome == (Outcome.ENDED if status in ("Completed", "Cancelled") else Outcome.NOT_RUNNING)


@pytest.mark.parametrize(("now", "promote"), list(itertools.product([MIDWAY, LAST_LOOK], [False, True])))
def test_look_stops_at_once_when_a_regression_is_proven(now: datetime, promote: bool) -> None:
    conclusion = _look(report=_report(Verdict.HOLD), now=now, promote=promote)
    assert (conclusion.action, conclusion.outcome, conclusion.publish) == (STOP, Outcome.STOPPED, True)
    assert "x1.300 fail" in conclusion.reason


def test_look_promotes_only_at_the_last_look_when_asked() -> None:
    conclusion = _look(report=_report(Verdict.PROMOTE), now=LAST_LOOK, promote=True)
    assert (conclusion.action, conclusion.outcome, conclusion.publish) == (PROMOTE, Outcome.PROMOTED, True)


def test_look_before_the_last_never_promotes() -> None:
    conclusion = _look(report=_report(Verdict.PROMOTE), now=END - HOUR - timedelta(seconds=1), promote=True)
    assert (conclusion.action, conclusion.outcome, conclusion.publish) == (NONE, Outcome.NON_INFERIOR_SO_FAR, False)


def test_last_look_without_promote_publishes_a_pass_and_does_nothing() -> None:
    conclusion = _look(report=_report(Verdict.PROMOTE), now=LAST_LOOK, promote=False)
    assert (conclusion.action, conclusion.outcome, conclusion.publish) == (NONE, Outcome.PASSED, True)


def test_schedule_without_end_has_no_last_look() -> None:
    conclusion = _look(report=_report(Verdict.PROMOTE), schedule_end=None, now=END + timedelta(days=30), promote=True)
    assert conclusion.action == NONE


@pytest.mark.parametrize("now", [MIDWAY, LAST_LOOK])
def test_look_never_promotes_on_missing_data(now: datetime) -> None:
    for failures in range(1, 7):
        conclusion = _look(report=None, now=now, promote=True, read_failures=failures)
        assert conclusion.action == NONE
        assert conclusion.outcome == Outcome.UNREADABLE


def test_unreadable_metrics_are_published_after_several_looks_in_a_row() -> None:
    published = [_look(report=None, read_failures=n, failures_before_alert=3).publish for n in range(1, 8)]
    assert published == [False, False, True, False, False, True, False]


def test_too_little_data_does_nothing_until_the_end() -> None:
    report = _report(Verdict.NOT_ENOUGH_DATA, periods=5)
    midway, last = _look(report=report, now=MIDWAY, promote=True), _look(report=report, now=LAST_LOOK, promote=True)
    assert (midway.action, midway.outcome, midway.publish) == (NONE, Outcome.NOT_ENOUGH_DATA, False)
    assert (last.action, last.outcome, last.publish) == (NONE, Outcome.INCONCLUSIVE, True)


def test_no_traffic_is_named_as_such() -> None:
    conclusion = _look(report=_report(Verdict.NOT_ENOUGH_DATA, periods=12, without_traffic=12))
    assert (conclusion.action, conclusion.outcome) == (NONE, Outcome.NO_TRAFFIC)


def test_a_look_exactly_one_interval_before_the_end_is_not_the_last() -> None:
    assert _look(report=_report(Verdict.PROMOTE), now=END - HOUR, promote=True).action == NONE
    assert _look(report=_report(Verdict.PROMOTE), now=END - HOUR + timedelta(seconds=1), promote=True).action == PROMOTE


@pytest.mark.parametrize("status", sorted(STATUSES))
@pytest.mark.parametrize("state", ["ALARM", "OK", "INSUFFICIENT_DATA"])
@pytest.mark.parametrize("watched", [True, False])
def test_alarm_stops_only_a_running_experiment_on_its_own_alarm_entering_alarm(
    status: str, state: str, watched: bool
) -> None:
    conclusion = conclude_alarm(status=status, alarm_state=state, alarm_is_watched=watched, alarm_name="p99")
    stops = status == "Running" and state == "ALARM" and watched
    assert conclusion.action == (STOP if stops else NONE)
    assert conclusion.publish == stops


def test_second_alarm_delivery_finds_the_experiment_stopping_and_does_nothing() -> None:
    first = conclude_alarm(status="Running", alarm_state="ALARM", alarm_is_watched=True, alarm_name="p99")
    second = conclude_alarm(status="Stopping", alarm_state="ALARM", alarm_is_watched=True, alarm_name="p99")
    assert (first.action, second.action) == (STOP, NONE)


def test_look_number_counts_whole_intervals_since_the_start() -> None:
    assert look_number(start=START, end=END, now=START + HOUR, judge_every=HOUR) == (1, 168)
    assert look_number(start=START, end=END, now=START + 5 * HOUR + timedelta(minutes=1), judge_every=HOUR) == (5, 168)
    assert look_number(start=START, end=None, now=START + 3 * HOUR, judge_every=HOUR) == (3, 3)
    assert look_number(start=START, end=END, now=START + timedelta(minutes=1), judge_every=HOUR) == (1, 168)
