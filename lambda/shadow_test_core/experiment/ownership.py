"""Whose experiment is it: nothing is stopped, updated or deleted that this resource did not create."""

from __future__ import annotations

from dataclasses import replace

from shadow_test_core.experiment.plans import Experiment, Request
from shadow_test_core.experiment.spec import is_generated_name


def owner_evident(request: Request, name: str) -> bool:
    """Whether ``name`` alone proves this resource made the experiment, so its tags need no read.

    A generated name holds a hash of this stack's id, the logical id and a request id: nobody
    else makes it. A fixed ``experiment_name`` proves nothing; its owner tags must say.
    """
    return is_generated_name(name, stack_id=request.stack_id, logical_id=request.logical_id)


def recognise(request: Request, experiment: Experiment | None) -> Experiment | None:
    """``experiment`` with ``owned`` set: its name proves it, or its owner tags name this resource."""
    if experiment is None:
        return None
    tagged = experiment.owner_stack_id == request.stack_id and experiment.owner_logical_id == request.logical_id
    return replace(experiment, owned=tagged or owner_evident(request, experiment.name))


def is_ours(request: Request) -> bool:
    """Whether the physical id can name an experiment this resource made.

    Only a name this resource could have given an experiment qualifies: its fixed name (old or
    new) or a name generated for its stack and logical id. A failure marker, the request id the
    Provider framework answers with when there is no physical id, and anything else never
    reach SageMaker at all.
    """
    physical_id = request.physical_id or ""
    if not physical_id or "::" in physical_id or physical_id == request.request_id:
        return False
    fixed = {s.experiment_name for s in (request.spec, request.old_spec) if s is not None and s.experiment_name}
    return physical_id in fixed or is_generated_name(
        physical_id, stack_id=request.stack_id, logical_id=request.logical_id
    )
