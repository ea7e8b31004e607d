"""Error answers, injected faults and the rate limit of the SageMaker stand-in."""

from __future__ import annotations

import time
from dataclasses import dataclass


class ApiError(Exception):
    """An error answer: HTTP ``status`` with body ``{"__type": code, "message": message}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def validation_error(message: str) -> ApiError:
    """A ``ValidationException`` answer."""
    return ApiError("ValidationException", message)


def invalid_request(problems: list[str]) -> ApiError:
    """The ``ValidationException`` SageMaker answers for a request that breaks its input shape."""
    plural = "s" if len(problems) > 1 else ""
    return validation_error(f"{len(problems)} validation error{plural} detected: " + "; ".join(problems))


def role_not_assumable(role_arn: str) -> ApiError:
    """What SageMaker answers for a role it cannot assume, e.g. one IAM has not propagated yet.

    Its wording as users reported it (awslabs/predictive-maintenance-using-machine-learning#3).
    """
    return validation_error(
        f"Could not assume role {role_arn}. Please ensure that the role exists and allows principal "
        "'sagemaker.amazonaws.com' to assume the role."
    )


@dataclass(frozen=True)
class ErrorFault:
    """An injected fault answered as an error: HTTP status, error code, default message."""

    status: int
    code: str
    default_message: str


ERROR_FAULTS: dict[str, ErrorFault] = {
    "throttle": ErrorFault(400, "ThrottlingException", "Rate exceeded"),
    "server_error": ErrorFault(500, "InternalFailure", "An internal error occurred."),
    "unavailable": ErrorFault(503, "ServiceUnavailable", "Service is unavailable."),
    "access_denied": ErrorFault(400, "AccessDeniedException", "User is not authorized to perform this action."),
    "invalid": ErrorFault(400, "ValidationException", "The request is not valid."),
}

FAULT_KINDS: frozenset[str] = frozenset({*ERROR_FAULTS, "drop", "drop_after", "slow", "role_not_assumable"})
"""Kinds accepted by :meth:`SageMakerStandIn.inject`."""


@dataclass
class Fault:
    """A fault waiting for its next ``remaining`` calls of ``operation`` (any when None)."""

    kind: str
    operation: str | None
    remaining: int
    delay: float
    message: str | None

    def applies_to(self, operation: str) -> bool:
        return self.remaining > 0 and self.operation in (None, operation)


class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, burst of ``max(1, rate)``."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate_limit_per_second must be positive")
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
