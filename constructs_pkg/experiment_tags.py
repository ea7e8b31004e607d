"""The experiment's tags: the ``tags`` prop and ``cdk.Tags.of(scope)``, like an L2's.

A custom resource is not taggable, so ``ShadowTestExperiment`` carries a ``TagManager`` of its
own: ``Tags.of`` reaches it, and its tags are rendered into the resource's ``Tags`` property when
the template is written. A change of either source is applied in place (``AddTags`` /
``DeleteTags``); SageMaker's limit counts them all, with the two ownership tags the handler adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import IStableAnyProducer, Lazy, TagManager, TagType
from constructs import IValidation

from constructs_pkg.tokens import is_token
from shadow_test_core.consts import RESOURCE_TYPE
from shadow_test_core.experiment import rules

#: The ``tags`` prop wins over ``Tags.of(scope).add(...)`` at its default priority (100) on the
#: same key: a tag written on the experiment itself is the more specific one.
PROP_TAG_PRIORITY = 200


def experiment_tag_manager(tags: Mapping[str, str] | None) -> TagManager:
    manager = TagManager(TagType.KEY_VALUE, RESOURCE_TYPE)
    for key, value in (tags or {}).items():
        manager.set_tag(key, value, PROP_TAG_PRIORITY)
    return manager


def rendered_tags(manager: TagManager) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in manager.render_tags() or []}


def _known(value: Any) -> bool:
    return not is_token(value)


@jsii.implements(IValidation)
class TagRules:
    """Every tag, from both sources, against SageMaker's rules; run at synth after the aspects."""

    def __init__(self, manager: TagManager) -> None:
        self._manager = manager

    def validate(self) -> list[str]:
        tags = rendered_tags(self._manager)
        known = {k: v for k, v in tags.items() if _known(k) and _known(v)}
        problems = rules.check_settings({"tags": known}) if known else []
        if len(tags) > len(known):  # the count is known even when a value is not
            problems += [p for p in rules.check_settings({"tags": tags}) if "at most" in p and p not in problems]
        return problems


def rendered_tags_lazy(manager: TagManager) -> Any:
    """The ``Tags`` property: the manager's tags as ``[{Key, Value}]`` when the template is written."""
    return Lazy.any(_TagsProducer(manager), omit_empty_array=True)


@jsii.implements(IStableAnyProducer)
class _TagsProducer:
    def __init__(self, manager: TagManager) -> None:
        self._manager = manager

    def produce(self) -> Any:
        return self._manager.render_tags() or None
