"""The shadow-test core: settings, rules, decisions, SageMaker I/O and statistics.

It never imports aws_cdk and nothing third-party but boto3/botocore, so that the same package
runs at ``cdk synth`` (imported by ``constructs_pkg``), in the custom-resource Lambda function
(shipped as its asset) and in the ``shadow-test`` CLI.
"""
