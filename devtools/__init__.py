"""Development tools shared by the tests and the benchmarks; never shipped (not in the wheel).

``sagemaker_standin`` serves SageMaker's inference-experiment API on loopback; ``provider_driver``
plays CloudFormation and the CDK Provider framework around the handler's entry points.
"""
