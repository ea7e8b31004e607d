#!/usr/bin/env python3
"""The example app: ``npx cdk synth`` synthesizes it (see cdk.json)."""

from aws_cdk import App, Environment

from examples.shadow_test_stack import ShadowTestExampleStack

app = App()
ShadowTestExampleStack(app, "ShadowTestExample", env=Environment(region="us-east-1"))
app.synth()
