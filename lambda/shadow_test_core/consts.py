"""Names shared by the construct that deploys the handler and the handler itself.

Like the Provider framework's ``runtime/consts.ts``: environment variables, entry points and the
keys of the state the handler carries between polls are spelled here once.
"""

from __future__ import annotations

#: The core package: the top-level folder of every Lambda asset of the library.
PACKAGE = __name__.rpartition(".")[0]
#: The custom-resource handler's module: its function's code is this module's import closure.
HANDLER_MODULE = f"{PACKAGE}.experiment.handler"
#: Lambda handler strings of the two Provider-framework entry points.
ON_EVENT_ENTRY = f"{HANDLER_MODULE}.on_event"
IS_COMPLETE_ENTRY = f"{HANDLER_MODULE}.is_complete"
#: Lambda handler string of the provider's one function: routes to on_event or is_complete.
DISPATCH_ENTRY = f"{HANDLER_MODULE}.handle"

#: The Provider framework's total timeout, in seconds (the handler gives up a little before it).
ENV_TOTAL_TIMEOUT = "PROVIDER_TOTAL_TIMEOUT_SECONDS"
#: The Provider framework's time between two ``is_complete`` polls, in seconds.
ENV_QUERY_INTERVAL = "PROVIDER_QUERY_INTERVAL_SECONDS"
#: That time unless the construct sets it: a shadow variant takes minutes to start.
DEFAULT_QUERY_INTERVAL_SECONDS = 30
#: Attempts per SageMaker call, the first included.
ENV_MAX_ATTEMPTS = "SAGEMAKER_MAX_ATTEMPTS"

#: The custom resource's CloudFormation type.
RESOURCE_TYPE = "Custom::ShadowTestExperiment"
#: Tag keys that mark an experiment as created by one resource of one stack.
OWNER_STACK_TAG = "cdk-shadow-test:stack-id"
OWNER_RESOURCE_TAG = "cdk-shadow-test:logical-id"

#: Lambda handler string of the conclusion function (scheduled looks and alarm state changes).
CONCLUSION_MODULE = f"{PACKAGE}.verdict.conclusion_handler"
CONCLUSION_ENTRY = f"{CONCLUSION_MODULE}.handle"
#: ``source`` and ``detail-type`` of the events the conclusion function puts on the default bus.
CONCLUSION_EVENT_SOURCE = "cdk-shadow-test"
CONCLUSION_DETAIL_TYPE = "Shadow Test Conclusion"
#: Where evidence goes in the capture bucket when no other place is given.
DEFAULT_EVIDENCE_PREFIX = "verdicts/"

#: The field of on_event's answer that carries state to is_complete. The Provider framework passes
#: any extra field through to is_complete and sends only Data to CloudFormation.
HANDLER_STATE = "HandlerState"
#: Keys of that state (``Plan.state``); it is neither a resource attribute nor part of the 4 KB
#: response. First the experiment being replaced:
REPLACES_NAME = "ReplacesExperimentName"
REPLACES_CREATED = "ReplacesExperimentCreationTime"
#: ``"true"`` when ``is_complete`` deletes the replaced experiment itself (CloudFormation will not).
DELETES_REPLACED = "DeletesReplacedExperiment"
#: When ``on_event`` began the request (ISO 8601): the start of the total-timeout clock.
STARTED_AT = "RequestStartedAt"
