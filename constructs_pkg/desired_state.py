"""Where a shadow test should be, whatever its schedule says."""

from __future__ import annotations

import enum


class DesiredState(enum.Enum):
    """The state ``ShadowTestExperiment(desired_state=...)`` brings the experiment to.

    The same three values as ``AWS::SageMaker::InferenceExperiment``'s ``DesiredState``.
    """

    #: Run now: a test scheduled to start later starts at the deploy.
    RUNNING = "Running"
    #: End the test now, applying ``shadow_action_on_delete`` to the shadow variant.
    COMPLETED = "Completed"
    #: End the test now as cancelled, applying ``shadow_action_on_delete`` to the shadow variant.
    CANCELLED = "Cancelled"
