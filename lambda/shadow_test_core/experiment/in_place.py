"""Changes applied without replacing the experiment: updates, tags and ``desired_state``.

Which settings SageMaker changes in place, and in which status, is declared in :mod:`settings`;
these functions turn a change into the calls that apply it.
"""

from __future__ import annotations

from datetime import datetime

from shadow_test_core.experiment import settings
from shadow_test_core.experiment.plans import END_TIME_TOLERANCE, Call, Experiment, Plan, Request, experiment_data
from shadow_test_core.experiment.settings import Setting
from shadow_test_core.experiment.spec import OWNER_RESOURCE_TAG, OWNER_STACK_TAG, ExperimentSpec
from shadow_test_core.experiment.statuses import ACTIVE, ENDED


def update_in_place(request: Request, current: Experiment, changed: list[Setting], now: datetime) -> Plan:
    """Tag and update calls that apply ``changed`` to ``current`` without replacing it."""
    assert request.old_spec is not None
    calls = list(tag_calls(current.arn, request.old_spec.tags, request.spec.tags))
    held = [s for s in changed if s.sent_to_sagemaker and s.kind != settings.TAGS]
    if held:
        params = request.spec.update_request(name=current.name, changed=held, started_at=current.start_time, now=now)
        calls.append(Call("UpdateInferenceExperiment", params))
    props = ", ".join(s.prop for s in changed)
    return Plan(calls=tuple(calls), physical_id=current.name, reason=f"update in place: {props}")


def tag_calls(arn: str, old: dict[str, str], new: dict[str, str]) -> list[Call]:
    """``AddTags`` for new and changed tags, ``DeleteTags`` for removed ones (ownership tags untouched)."""
    calls = []
    added = {k: v for k, v in new.items() if old.get(k) != v}
    removed = sorted(set(old) - set(new) - {OWNER_STACK_TAG, OWNER_RESOURCE_TAG})
    if added:
        calls.append(Call("AddTags", {"ResourceArn": arn, "Tags": [{"Key": k, "Value": v} for k, v in added.items()]}))
    if removed:
        calls.append(Call("DeleteTags", {"ResourceArn": arn, "TagKeys": removed}))
    return calls


def pending_updates(spec: ExperimentSpec, experiment: Experiment, now: datetime) -> list[Setting]:
    """The settings SageMaker could change in place whose described value differs from ``spec``.

    Only values ``spec`` sets are compared (SageMaker fills in defaults of its own), and an end
    time counts as equal within a minute of the one asked for.
    """
    if not experiment.described:
        return []
    start, end = spec.schedule(experiment.start_time or now)
    wanted = {**spec.values, "schedule.start_time": start, "schedule.end_time": end, "schedule.duration": None}
    if wanted.get("description") is None:
        wanted["description"] = ""
    pending = []
    for setting in settings.SETTINGS:
        if not setting.sent_to_sagemaker or setting.kind == settings.TAGS:
            continue
        if not setting.changes_in_place(experiment.status):
            continue
        value, seen = wanted.get(setting.prop), experiment.described.get(setting.prop)
        if value is None or value == [] or seen is None:
            continue
        if isinstance(value, datetime) and isinstance(seen, datetime):
            if abs(value - seen) > END_TIME_TOLERANCE:
                pending.append(setting)
        elif value != seen:
            pending.append(setting)
    return pending


def towards_desired_state(spec: ExperimentSpec, target: Experiment, now: datetime) -> Plan | None:
    """The step towards ``desired_state``; None when it is unset or asks for what the schedule does."""
    desired = spec.desired_state
    if desired in settings.ENDING_STATES:
        if target.status in ENDED:
            return Plan(complete=True, data=experiment_data(target), reason=f"{target.status}, as desired_state asks")
        if target.status in ACTIVE:
            stop = spec.stop_request(name=target.name, desired_state=desired)
            return Plan(calls=(Call("StopInferenceExperiment", stop),), reason=f"end it: desired_state {desired}")
        return Plan(reason=f"wait: {target.status}")
    if (
        desired == settings.DESIRED_RUNNING
        and target.status == "Created"
        and target.start_time
        and target.start_time > now
    ):
        # SageMaker's own call for a Created experiment: it keeps the schedule's end, and moving the
        # start time instead would be a settings change that the next deploy reads as drift.
        start = {"Name": target.name}
        return Plan(calls=(Call("StartInferenceExperiment", start),), reason="start it now: desired_state Running")
    return None
