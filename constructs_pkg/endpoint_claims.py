"""One inference experiment per endpoint: two experiments of an app on one endpoint fail synth.

SageMaker allows one active inference experiment per endpoint, so a second experiment on the same
endpoint would only fail at deploy. Every experiment claims its ``endpoint_name`` in one registry
kept on the app's root construct; a validation added once to each ``Stage`` that holds an
experiment (the app is one) reports every endpoint claimed twice across the whole app, stacks
inside a ``Stage`` included, when that stage synthesizes.

Endpoint names are compared as written: equal literals, or the same token (by its string form;
tokens are never resolved at synth). Two different tokens that resolve to one name are left to the
handler, which finds the endpoint busy at deploy.
"""

from __future__ import annotations

from typing import cast

import jsii
from aws_cdk import Stage, Token
from constructs import Construct, IConstruct, IValidation

_ID = "ShadowTestEndpointClaims"


class _EndpointClaims(Construct):
    """The app's experiments by endpoint name (as written), kept on the root construct."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.paths_by_endpoint: dict[str, list[str]] = {}
        #: The Stages (and the app) already given the check, by identity: a path is two jsii round trips.
        self.validated_stages: list[IConstruct] = []

    def problems(self, stage_path: str) -> list[str]:
        """One line per endpoint claimed twice or more with a claimant inside ``stage_path`` ("" is the app)."""
        inside = stage_path + "/" if stage_path else ""
        return [
            _problem(endpoint, paths)
            for endpoint, paths in self.paths_by_endpoint.items()
            if len(paths) > 1 and any(path.startswith(inside) for path in paths)
        ]


@jsii.implements(IValidation)
class _OneExperimentPerEndpoint:
    """Runs when the stage it is added to synthesizes (``cdk synth``, ``Template.from_stack``)."""

    def __init__(self, claims: _EndpointClaims, stage_path: str) -> None:
        self._claims, self._stage_path = claims, stage_path

    def validate(self) -> list[str]:
        return self._claims.problems(self._stage_path)


def _problem(endpoint: str, paths: list[str]) -> str:
    named = "the same token" if Token.is_unresolved(endpoint) else repr(endpoint)
    listing = ", ".join(paths[:-1]) + f" and {paths[-1]}" + (" both" if len(paths) == 2 else " all")
    return (
        f"endpoint_name: {listing} shadow endpoint {named}, but SageMaker allows one active inference "
        "experiment per endpoint, so all but one would fail at deploy. Fix: give each experiment its own "
        "endpoint, or keep one of them (deploy the next once the first is deleted). Experiments ended with "
        "desired_state count too."
    )


def claim_endpoint(experiment: Construct, endpoint_name: str, *, path: str | None = None) -> None:
    """Record that ``experiment`` shadows ``endpoint_name``; a second claim fails the app's synth.

    :param path: ``experiment.node.path``, when the caller has read it already.
    """
    root = experiment.node.root
    claims = root.node.try_find_child(_ID)
    if claims is None:
        claims = _EndpointClaims(cast(Construct, root), _ID)
    assert isinstance(claims, _EndpointClaims)
    claims.paths_by_endpoint.setdefault(endpoint_name, []).append(path if path is not None else experiment.node.path)
    # Each Stage validates its own tree only (an app's synth validates a nested Stage when that
    # synthesizes, and Template.from_stack synthesizes only the stack's Stage): one check per Stage.
    stage = Stage.of(experiment)
    scopes = [root] if stage is None else [stage, root]
    for scope in scopes:
        if not any(scope is validated for validated in claims.validated_stages):
            claims.validated_stages.append(scope)
            scope.node.add_validation(_OneExperimentPerEndpoint(claims, scope.node.path))
