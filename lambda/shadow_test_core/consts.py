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
#: Attempts per SageMaker call, the first included.
ENV_MAX_ATTEMPTS = "SAGEMAKER_MAX_ATTEMPTS"

#: The custom resource's CloudFormation type.
RESOURCE_TYPE = "Custom::ShadowTestExperiment"
#: Tag keys that mark an experiment as created by one resource of one stack.
OWNER_STACK_TAG = "cdk-shadow-test:stack-id"
OWNER_RESOURCE_TAG = "cdk-shadow-test:logical-id"
