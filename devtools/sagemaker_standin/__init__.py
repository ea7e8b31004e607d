"""A loopback-HTTP stand-in for the SageMaker operations the handler and the CLI call.

``server`` (HTTP, validation by the core's ``service_model``, faults, rate limit) in front of
``experiments`` (the state machine), ``refusals`` (what SageMaker refuses beyond its model),
``records`` (what it remembers) and ``faults`` (error answers).
"""

from __future__ import annotations

from devtools.sagemaker_standin.faults import FAULT_KINDS
from devtools.sagemaker_standin.records import TERMINAL_STATUSES
from devtools.sagemaker_standin.server import SUPPORTED_OPERATIONS, SageMakerStandIn

__all__ = ["FAULT_KINDS", "SUPPORTED_OPERATIONS", "TERMINAL_STATUSES", "SageMakerStandIn"]
