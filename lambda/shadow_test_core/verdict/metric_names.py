"""CloudWatch namespaces and metric names SageMaker publishes for endpoint variants.

Spelled once here for the ``shadow-test`` CLI (and, later, a Lambda function running the verdict),
as CloudWatch spells them. Dimensions of every metric below: ``EndpointName`` and ``VariantName``.
"""

from __future__ import annotations

#: Invocation metrics of an endpoint variant (counts, errors, latencies).
INVOCATION_NAMESPACE = "AWS/SageMaker"
#: Instance metrics of an endpoint variant (CPU, memory, disk utilization).
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"

ENDPOINT_DIMENSION = "EndpointName"
VARIANT_DIMENSION = "VariantName"

INVOCATIONS = "Invocations"
INVOCATION_5XX_ERRORS = "Invocation5XXErrors"
INVOCATION_4XX_ERRORS = "Invocation4XXErrors"
INVOCATION_MODEL_ERRORS = "InvocationModelErrors"
#: Time the model took to respond, in microseconds.
MODEL_LATENCY = "ModelLatency"
#: Time SageMaker added around the model, in microseconds.
OVERHEAD_LATENCY = "OverheadLatency"

CPU_UTILIZATION = "CPUUtilization"
MEMORY_UTILIZATION = "MemoryUtilization"
DISK_UTILIZATION = "DiskUtilization"
