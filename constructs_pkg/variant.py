"""A model variant of the shadow test and what happens to the shadow variant on delete."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ModelVariant:
    """One model variant on the endpoint: the model and the infrastructure that serves it.

    :param variant_name: the variant's name on the endpoint. For the production variant, the name
        of a variant the endpoint already serves.
    :param model_name: the SageMaker model the variant serves (a literal or a token such as
        ``CfnModel.attr_model_name``).
    :param instance_type: a SageMaker production-variant instance type, e.g. ``ml.m5.large``.
    :param instance_count: how many instances serve the variant. Default: 1.
    """

    variant_name: str
    model_name: str
    instance_type: str
    instance_count: int = 1


class VariantAction(enum.Enum):
    """What SageMaker does with the shadow variant when the experiment stops."""

    #: The shadow variant replaces the production variant (its model and infrastructure).
    PROMOTE = "Promote"
    #: The shadow variant stays on the endpoint (and keeps being billed).
    RETAIN = "Retain"
    #: The shadow variant is removed from the endpoint; production is untouched.
    REMOVE = "Remove"
