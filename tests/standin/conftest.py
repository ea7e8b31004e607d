"""Fixtures of the stand-in's tests: a running stand-in with endpoint ``ep-1`` and clients for it."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import botocore.retries.standard
import pytest
from botocore.client import BaseClient

from devtools.sagemaker_standin import SageMakerStandIn
from tests.standin.helpers import ENDPOINT, ClientFactory, production_variant, sagemaker_client


@pytest.fixture
def standin() -> Iterator[SageMakerStandIn]:
    """A running stand-in with endpoint ``ep-1`` serving production variant ``prod``."""
    with SageMakerStandIn() as server:
        server.add_endpoint(ENDPOINT, [production_variant()])
        yield server


@pytest.fixture
def make_client(standin: SageMakerStandIn) -> ClientFactory:
    """Build clients for the per-test stand-in (see :func:`sagemaker_client`)."""
    return functools.partial(sagemaker_client, standin.url)


@pytest.fixture
def client(make_client: ClientFactory) -> BaseClient:
    """Client with botocore's own parameter validation on (the normal case)."""
    return make_client()


@pytest.fixture
def raw_client(make_client: ClientFactory) -> BaseClient:
    """Client that sends parameters unchecked, so the stand-in's validation is exercised."""
    return make_client(parameter_validation=False)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink botocore's standard-mode backoff scales so retry tests stay fast."""
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff,
        "_DEFAULT_BACKOFF_CONFIG",
        {"throttling_base_scale": 0.01, "non_throttling_base_scale": 0.01},
    )
