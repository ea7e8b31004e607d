"""The statuses of an inference experiment, as ``DescribeInferenceExperiment`` reports them."""

from __future__ import annotations

#: Waiting for its start time (``Created``) or shadowing traffic (``Running``).
ACTIVE = frozenset({"Created", "Running"})
#: On its way between two of the other statuses; SageMaker refuses most calls meanwhile.
TRANSITIONING = frozenset({"Creating", "Starting", "Updating", "Stopping"})
#: Stopped for good: a stopped experiment never restarts.
ENDED = frozenset({"Completed", "Cancelled"})
#: Every status there is.
STATUSES = ACTIVE | TRANSITIONING | ENDED
