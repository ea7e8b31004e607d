"""The SageMaker stand-in's state machine: endpoints and inference experiments, one method per operation.

Each operation takes a request that already fits its input shape and answers it, or raises
``ApiError`` as SageMaker would. Not thread-safe: the server serializes calls.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import ClassVar

from devtools.sagemaker_standin.faults import ApiError, role_not_assumable, validation_error
from devtools.sagemaker_standin.records import (
    DEFAULT_LIST_PAGE_SIZE,
    MAX_TAGS_PER_RESOURCE,
    TERMINAL_STATUSES,
    Endpoint,
    JsonDict,
    Lifecycle,
    StopPlan,
    decode_token,
    drop_none,
    encode_token,
    endpoint_variant,
    list_filter,
    next_status,
    replace_variant,
    shadow_variant_name,
    source_variant_name,
    summary,
    variant_status,
    variant_summary,
)
from devtools.sagemaker_standin.refusals import (
    check_variants,
    checked_actions,
    initial_schedule,
    updated_data_storage_config,
    updated_model_variants,
    updated_schedule,
    updated_shadow_config,
)


class InferenceExperiments:
    """SageMaker's endpoints and inference experiments as the handler and the CLI see them.

    Lifecycle: an experiment reports each transitional status for ``steps_per_transition``
    ``DescribeInferenceExperiment`` calls and then moves on (Creating -> Starting -> Running, or
    Creating -> Created while its start time is in the future; Updating -> back to
    Created/Running; Stopping -> the requested final state; Running past its end time ->
    Completed). Times and schedules follow ``clock``.

    Stop and delete follow the documented lifecycle as conservatively as the API reference
    allows: ``StopInferenceExperiment`` is accepted only while an experiment is ``Created`` or
    ``Running`` (like ``UpdateInferenceExperiment``, whose documentation says so) and
    ``DeleteInferenceExperiment`` only once it is ``Completed`` or ``Cancelled``.
    """

    #: The operations served: those the handler and the ``shadow-test`` CLI call.
    OPERATIONS: ClassVar[dict[str, str]] = {
        "CreateInferenceExperiment": "create_inference_experiment",
        "DescribeInferenceExperiment": "describe_inference_experiment",
        "UpdateInferenceExperiment": "update_inference_experiment",
        "StopInferenceExperiment": "stop_inference_experiment",
        "DeleteInferenceExperiment": "delete_inference_experiment",
        "ListInferenceExperiments": "list_inference_experiments",
        "ListTags": "list_tags",
        "AddTags": "add_tags",
        "DeleteTags": "delete_tags",
        "DescribeEndpoint": "describe_endpoint",
    }

    def __init__(self, *, account: str, region: str, steps_per_transition: int, clock: Callable[[], float]) -> None:
        if steps_per_transition < 1:
            raise ValueError("steps_per_transition must be at least 1")
        self.account, self.region = account, region
        self.steps_per_transition = steps_per_transition
        self.clock = clock
        self.experiments: dict[str, JsonDict] = {}
        self.endpoints: dict[str, Endpoint] = {}
        #: StatusReasons of the next experiments that end Cancelled instead of Running.
        self.cancel_reasons: list[str] = []
        #: Statuses experiments stay in until cleared.
        self.hung_statuses: set[str] = set()
        #: Until this time of ``clock`` every create's role is refused (IAM has not propagated it).
        self.roles_assumable_at: float | None = None
        self._lifecycles: dict[str, Lifecycle] = {}
        self._sequence = 0

    def operations(self) -> dict[str, Callable[[JsonDict], JsonDict]]:
        """Operation name -> its implementation (the method of the same name in snake case)."""
        return {operation: getattr(self, method) for operation, method in self.OPERATIONS.items()}

    def add_endpoint(self, name: str, production: list[JsonDict]) -> None:
        """Register an ``InService`` endpoint with ``production`` variants."""
        self.endpoints[name] = Endpoint(name, self.arn("endpoint", name), production)

    # -- helpers ------------------------------------------------------------

    def arn(self, resource: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{resource}/{name.lower()}"

    def _experiment(self, name: str) -> JsonDict:
        record = self.experiments.get(name)
        if record is None:
            raise ApiError("ResourceNotFound", f"Inference experiment {name!r} does not exist.")
        return record

    def _endpoint(self, name: str) -> Endpoint:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise validation_error(f'Could not find endpoint "{self.arn("endpoint", name)}".')
        return endpoint

    def _lifecycle(self, name: str) -> Lifecycle:
        lifecycle = self._lifecycles.get(name)
        if lifecycle is None:  # a record planted directly in ``experiments``
            lifecycle = self._lifecycles[name] = Lifecycle(self._next_sequence())
        return lifecycle

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    # -- CreateInferenceExperiment -----------------------------------------

    def create_inference_experiment(self, params: JsonDict) -> JsonDict:
        name = params["Name"]
        endpoint = self._endpoint(params["EndpointName"])
        if self.roles_assumable_at is not None and self.clock() < self.roles_assumable_at:
            raise role_not_assumable(params["RoleArn"])
        if name in self.experiments:
            raise ApiError("ResourceInUse", f"Inference experiment {name!r} already exists.")
        active = self._active_experiment_on(endpoint.name)
        if active is not None:
            raise ApiError(
                "ResourceInUse",
                f"Endpoint {endpoint.name!r} already has an active inference experiment "
                f"{active['Name']!r} (status {active['Status']}).",
            )
        check_variants(params, endpoint)
        now = self.clock()
        self.experiments[name] = {
            "Name": name,
            "Arn": self.arn("inference-experiment", name),
            "Type": params["Type"],
            "Status": "Creating",
            "StatusReason": None,
            "EndpointName": endpoint.name,
            "ModelVariants": params["ModelVariants"],
            "ShadowModeConfig": params["ShadowModeConfig"],
            "Schedule": initial_schedule(params.get("Schedule") or {}, now),
            "Description": params.get("Description"),
            "DataStorageConfig": params.get("DataStorageConfig"),
            "KmsKey": params.get("KmsKey"),
            "RoleArn": params["RoleArn"],
            "Tags": params.get("Tags") or [],
            "CreationTime": now,
            "LastModifiedTime": now,
            "CompletionTime": None,
        }
        self._lifecycles[name] = Lifecycle(self._next_sequence())
        return {"InferenceExperimentArn": self.experiments[name]["Arn"]}

    def _active_experiment_on(self, endpoint_name: str) -> JsonDict | None:
        for record in self.experiments.values():
            if record["EndpointName"] == endpoint_name and record["Status"] not in TERMINAL_STATUSES:
                return record
        return None

    # -- DescribeInferenceExperiment and the lifecycle ---------------------

    def describe_inference_experiment(self, params: JsonDict) -> JsonDict:
        name = params["Name"]
        record = self._experiment(name)
        response = self._describe_response(record)
        lifecycle = self._lifecycle(name)
        lifecycle.describes += 1
        if lifecycle.describes >= self.steps_per_transition and self._advance(record, lifecycle):
            lifecycle.describes = 0
        return response

    def _describe_response(self, record: JsonDict) -> JsonDict:
        endpoint = self.endpoints.get(record["EndpointName"])
        return drop_none(
            {
                "Arn": record["Arn"],
                "Name": record["Name"],
                "Type": record["Type"],
                "Schedule": record["Schedule"],
                "Status": record["Status"],
                "StatusReason": record["StatusReason"],
                "Description": record["Description"],
                "CreationTime": record["CreationTime"],
                "CompletionTime": record["CompletionTime"],
                "LastModifiedTime": record["LastModifiedTime"],
                "RoleArn": record["RoleArn"],
                "EndpointMetadata": {
                    "EndpointName": record["EndpointName"],
                    "EndpointConfigName": f"{record['EndpointName']}-config",
                    "EndpointStatus": "InService" if endpoint else "OutOfService",
                },
                "ModelVariants": [
                    {**variant, "Status": variant_status(record, variant["VariantName"])}
                    for variant in record["ModelVariants"]
                ],
                "DataStorageConfig": record["DataStorageConfig"],
                "ShadowModeConfig": record["ShadowModeConfig"],
                "KmsKey": record["KmsKey"],
            }
        )

    def _advance(self, record: JsonDict, lifecycle: Lifecycle) -> bool:
        """Move ``record`` one lifecycle step if it is due; returns whether it moved."""
        status = record["Status"]
        if status in self.hung_statuses:
            return False
        now = self.clock()
        following = next_status(record, lifecycle, now)
        if following is None:
            return False
        self._enter(record, lifecycle, status, following, now)
        return True

    def _enter(self, record: JsonDict, lifecycle: Lifecycle, previous: str, status: str, now: float) -> None:
        endpoint = self.endpoints.get(record["EndpointName"])
        if previous == "Starting" and self.cancel_reasons:
            status = "Cancelled"
            record["StatusReason"] = self.cancel_reasons.pop(0)
        elif status == "Running" and endpoint is not None:
            self._deploy_shadow(record, lifecycle, endpoint)
        elif previous == "Running" and status == "Completed" and endpoint is not None:
            self._withdraw_shadow(record, lifecycle, endpoint)
        elif previous == "Stopping" and lifecycle.stop_plan is not None:
            self._finish_stop(record, lifecycle, lifecycle.stop_plan, endpoint)
        record["Status"] = status
        record["LastModifiedTime"] = now
        if status in TERMINAL_STATUSES:
            record["CompletionTime"] = now

    def _deploy_shadow(self, record: JsonDict, lifecycle: Lifecycle, endpoint: Endpoint) -> None:
        shadow_name = shadow_variant_name(record)
        config = next(v for v in record["ModelVariants"] if v["VariantName"] == shadow_name)
        endpoint.shadow = [v for v in endpoint.shadow if v["VariantName"] != shadow_name]
        endpoint.shadow.append(endpoint_variant(config))
        endpoint.modified = self.clock()
        lifecycle.shadow_deployed = True

    def _withdraw_shadow(self, record: JsonDict, lifecycle: Lifecycle, endpoint: Endpoint) -> None:
        shadow_name = shadow_variant_name(record)
        endpoint.shadow = [v for v in endpoint.shadow if v["VariantName"] != shadow_name]
        endpoint.modified = self.clock()
        lifecycle.shadow_deployed = False

    def _finish_stop(self, record: JsonDict, lifecycle: Lifecycle, plan: StopPlan, endpoint: Endpoint | None) -> None:
        if plan.reason is not None:
            record["StatusReason"] = plan.reason
        if endpoint is None or not lifecycle.shadow_deployed:
            return
        shadow_name, source_name = shadow_variant_name(record), source_variant_name(record)
        shadow_variant = next((v for v in endpoint.shadow if v["VariantName"] == shadow_name), None)
        self._withdraw_shadow(record, lifecycle, endpoint)
        shadow_action = plan.actions.get(shadow_name, "Remove")
        if shadow_action == "Retain" and shadow_variant is not None:
            endpoint.production.append(shadow_variant)
        elif shadow_action == "Promote":
            promoted = [endpoint_variant(config) for config in plan.desired_variants or []]
            endpoint.production = replace_variant(endpoint.production, source_name, promoted)

    # -- UpdateInferenceExperiment -----------------------------------------

    def update_inference_experiment(self, params: JsonDict) -> JsonDict:
        name = params["Name"]
        record = self._experiment(name)
        status = record["Status"]
        if status not in ("Created", "Running"):
            raise ApiError(
                "ConflictException",
                f"Inference experiment {name!r} is {status}; it can only be updated while Created or Running.",
            )
        schedule = updated_schedule(record, params.get("Schedule"))
        shadow_config = updated_shadow_config(record, params.get("ShadowModeConfig"))
        model_variants = updated_model_variants(record, params.get("ModelVariants"))
        capture = updated_data_storage_config(record, params.get("DataStorageConfig"))
        record["Schedule"] = schedule
        record["ShadowModeConfig"] = shadow_config
        record["ModelVariants"] = model_variants
        if capture is not None:
            record["DataStorageConfig"] = capture
        if "Description" in params:
            record["Description"] = params["Description"]
        lifecycle = self._lifecycle(name)
        lifecycle.resume_status = status
        lifecycle.describes = 0
        record["Status"] = "Updating"
        record["LastModifiedTime"] = self.clock()
        self._refresh_deployed_shadow(record, lifecycle)
        return {"InferenceExperimentArn": record["Arn"]}

    def _refresh_deployed_shadow(self, record: JsonDict, lifecycle: Lifecycle) -> None:
        endpoint = self.endpoints.get(record["EndpointName"])
        if lifecycle.shadow_deployed and endpoint is not None:
            self._deploy_shadow(record, lifecycle, endpoint)

    # -- StopInferenceExperiment -------------------------------------------

    def stop_inference_experiment(self, params: JsonDict) -> JsonDict:
        name = params["Name"]
        record = self._experiment(name)
        if record["Status"] not in ("Created", "Running"):
            raise validation_error(
                f"Inference experiment {name!r} is {record['Status']}; it can only be stopped while Created or Running."
            )
        actions = checked_actions(record, params["ModelVariantActions"])
        if "Promote" in actions.values() and not params.get("DesiredModelVariants"):
            raise validation_error("DesiredModelVariants is required when a ModelVariantAction is Promote.")
        lifecycle = self._lifecycle(name)
        lifecycle.stop_plan = StopPlan(
            actions=actions,
            desired_variants=params.get("DesiredModelVariants"),
            desired_state=params.get("DesiredState", "Completed"),
            reason=params.get("Reason"),
        )
        lifecycle.describes = 0
        record["Status"] = "Stopping"
        record["LastModifiedTime"] = self.clock()
        return {"InferenceExperimentArn": record["Arn"]}

    # -- DeleteInferenceExperiment -----------------------------------------

    def delete_inference_experiment(self, params: JsonDict) -> JsonDict:
        name = params["Name"]
        record = self._experiment(name)
        if record["Status"] not in TERMINAL_STATUSES:
            raise validation_error(
                f"Inference experiment {name!r} is {record['Status']}; only Completed or "
                "Cancelled experiments can be deleted."
            )
        del self.experiments[name]
        self._lifecycles.pop(name, None)
        return {"InferenceExperimentArn": record["Arn"]}

    # -- ListInferenceExperiments ------------------------------------------

    def list_inference_experiments(self, params: JsonDict) -> JsonDict:
        records = [r for r in self.experiments.values() if list_filter(r, params)]
        sort_by = params.get("SortBy", "CreationTime")
        records.sort(
            key=lambda r: (r[sort_by], self._lifecycle(r["Name"]).sequence),
            reverse=params.get("SortOrder", "Descending") == "Descending",
        )
        start = decode_token(params.get("NextToken"), len(records))
        end = start + params.get("MaxResults", DEFAULT_LIST_PAGE_SIZE)
        summaries = [summary(record) for record in records[start:end]]
        next_token = encode_token(end) if end < len(records) else None
        return drop_none({"InferenceExperiments": summaries, "NextToken": next_token})

    # -- DescribeEndpoint --------------------------------------------------

    def describe_endpoint(self, params: JsonDict) -> JsonDict:
        endpoint = self._endpoint(params["EndpointName"])
        return drop_none(
            {
                "EndpointName": endpoint.name,
                "EndpointArn": endpoint.arn,
                "EndpointConfigName": f"{endpoint.name}-config",
                "EndpointStatus": "InService",
                "ProductionVariants": [variant_summary(v) for v in endpoint.production],
                "ShadowProductionVariants": [variant_summary(v) for v in endpoint.shadow] or None,
                "CreationTime": endpoint.created,
                "LastModifiedTime": endpoint.modified,
            }
        )

    # -- ListTags -------------------------------------------------------------

    def _tagged(self, arn: str) -> JsonDict:
        record = next((r for r in self.experiments.values() if r["Arn"] == arn), None)
        if record is None:
            raise validation_error(f"Resource {arn} does not exist.")
        return record

    def add_tags(self, params: JsonDict) -> JsonDict:
        record = self._tagged(params["ResourceArn"])
        tags = {t["Key"]: t["Value"] for t in record["Tags"]}
        tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
        if len(tags) > MAX_TAGS_PER_RESOURCE:
            raise validation_error(f"A resource can have at most {MAX_TAGS_PER_RESOURCE} tags; got {len(tags)}.")
        record["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return {"Tags": copy.deepcopy(params["Tags"])}

    def delete_tags(self, params: JsonDict) -> JsonDict:
        record = self._tagged(params["ResourceArn"])
        record["Tags"] = [t for t in record["Tags"] if t["Key"] not in params["TagKeys"]]
        return {}

    def list_tags(self, params: JsonDict) -> JsonDict:
        record = self._tagged(params["ResourceArn"])
        tags = record["Tags"]
        start = decode_token(params.get("NextToken"), len(tags))
        end = start + params.get("MaxResults", MAX_TAGS_PER_RESOURCE)
        next_token = encode_token(end) if end < len(tags) else None
        return drop_none({"Tags": copy.deepcopy(tags[start:end]), "NextToken": next_token})
