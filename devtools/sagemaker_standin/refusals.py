"""What SageMaker refuses beyond its service model: variants, schedules, stop actions.

Each check raises the ``ValidationException`` SageMaker answers; the model's own limits are
checked before any of these by ``shadow_test_core.experiment.service_model.input_problems``.
"""

from __future__ import annotations

from devtools.sagemaker_standin.faults import validation_error
from devtools.sagemaker_standin.records import (
    DEFAULT_DURATION_SECONDS,
    Endpoint,
    JsonDict,
    shadow_variant_name,
    source_variant_name,
)


def check_variants(params: JsonDict, endpoint: Endpoint) -> None:
    """A create's variants: one source on the endpoint and one new shadow, nothing else."""
    names = [variant["VariantName"] for variant in params["ModelVariants"]]
    if len(set(names)) != len(names):
        raise validation_error(f"ModelVariants has duplicate variant names: {names}")
    shadow_config = params["ShadowModeConfig"]
    source = shadow_config["SourceModelVariantName"]
    shadows = [v["ShadowModelVariantName"] for v in shadow_config["ShadowModelVariants"]]
    if source not in names:
        raise validation_error(f"SourceModelVariantName {source!r} is not one of ModelVariants {names}.")
    production_names = [variant["VariantName"] for variant in endpoint.production]
    if source not in production_names:
        raise validation_error(
            f"Variant {source!r} is not a production variant of endpoint {endpoint.name!r} "
            f"(variants: {production_names})."
        )
    if len(shadows) != 1:
        raise validation_error("ShadowModeConfig must have exactly one shadow variant.")
    shadow = shadows[0]
    if shadow == source or shadow not in names:
        raise validation_error(
            f"ShadowModelVariantName {shadow!r} must be one of ModelVariants {names} "
            f"and differ from the source variant {source!r}."
        )
    if shadow in endpoint.variant_names():
        raise validation_error(f"Variant {shadow!r} already exists on endpoint {endpoint.name!r}.")
    if sorted(names) != sorted([source, shadow]):
        raise validation_error(f"ModelVariants {names} must be exactly the source variant and the shadow variant.")


def initial_schedule(schedule: JsonDict, now: float) -> JsonDict:
    """A create's schedule: starting now and lasting 7 days unless given."""
    start = float(schedule.get("StartTime", now))
    end = float(schedule.get("EndTime", start + DEFAULT_DURATION_SECONDS))
    if end <= start:
        raise validation_error("Schedule.EndTime must be after Schedule.StartTime.")
    return {"StartTime": start, "EndTime": end}


def updated_schedule(record: JsonDict, schedule: JsonDict | None) -> JsonDict:
    """An update's schedule: only the end may move while Running."""
    current = record["Schedule"]
    if not schedule:
        return current
    start = float(schedule.get("StartTime", current["StartTime"]))
    end = float(schedule.get("EndTime", current["EndTime"]))
    if record["Status"] == "Running" and start != current["StartTime"]:
        raise validation_error(
            "Schedule.StartTime cannot be changed while the experiment is Running; only Schedule.EndTime can."
        )
    if end <= start:
        raise validation_error("Schedule.EndTime must be after Schedule.StartTime.")
    return {"StartTime": start, "EndTime": end}


def updated_shadow_config(record: JsonDict, config: JsonDict | None) -> JsonDict:
    """An update's shadow config: only the sampling may change."""
    if config is None:
        return record["ShadowModeConfig"]
    names = (config["SourceModelVariantName"], config["ShadowModelVariants"][0]["ShadowModelVariantName"])
    if names != (source_variant_name(record), shadow_variant_name(record)):
        raise validation_error(
            "ShadowModeConfig cannot change the source or shadow variant of an experiment; "
            "only SamplingPercentage can be updated."
        )
    return config


def updated_model_variants(record: JsonDict, variants: list[JsonDict] | None) -> list[JsonDict]:
    """An update's model variants: those it names get new infrastructure, never a new model.

    As SageMaker's reference says, the list holds only the variants being reconfigured; and as
    its "Edit a shadow test" guide says, only before the test starts.
    """
    if variants is None:
        return record["ModelVariants"]
    current = {v["VariantName"]: v for v in record["ModelVariants"]}
    unknown = sorted(v["VariantName"] for v in variants if v["VariantName"] not in current)
    if unknown:
        raise validation_error(
            f"ModelVariants names {unknown}, which are not variants of the experiment {sorted(current)}."
        )
    for variant in variants:
        if variant["ModelName"] != current[variant["VariantName"]]["ModelName"]:
            raise validation_error(
                f"The model of variant {variant['VariantName']!r} cannot be changed; create a new inference experiment."
            )
    if record["Status"] == "Running" and any(v != current[v["VariantName"]] for v in variants):
        raise validation_error("ModelVariants cannot be changed while the experiment is Running.")
    updated = {**current, **{v["VariantName"]: v for v in variants}}
    return [updated[v["VariantName"]] for v in record["ModelVariants"]]


def updated_data_storage_config(record: JsonDict, config: JsonDict | None) -> JsonDict | None:
    """An update's capture settings: only before the test starts."""
    if config is None:
        return record.get("DataStorageConfig")
    if record["Status"] == "Running" and config != record.get("DataStorageConfig"):
        raise validation_error("DataStorageConfig cannot be changed while the experiment is Running.")
    return config


def checked_actions(record: JsonDict, actions: dict[str, str]) -> dict[str, str]:
    """A stop's variant actions: promoting the shadow means removing the source, and only then."""
    source, shadow = source_variant_name(record), shadow_variant_name(record)
    unknown = sorted(set(actions) - {source, shadow})
    if unknown:
        raise validation_error(
            f"ModelVariantActions names {unknown}, which are not variants of inference "
            f"experiment {record['Name']!r} (variants: {[source, shadow]})."
        )
    source_action = actions.get(source, "Retain")
    shadow_action = actions.get(shadow, "Remove")
    if source_action == "Promote":
        raise validation_error(f"The production variant {source!r} cannot be promoted; only the shadow variant can.")
    if (source_action == "Remove") != (shadow_action == "Promote"):
        raise validation_error(
            "Promoting the shadow variant requires removing the production variant, and the "
            "production variant can only be removed when the shadow variant is promoted."
        )
    return {source: source_action, shadow: shadow_action}
