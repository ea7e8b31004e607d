"""What ``ShadowTestExperiment`` synthesizes: the custom resource, roles, policies, provider, output."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from constructs_pkg import DataCapture, ModelVariant, Schedule, ShadowTestExperiment, VariantAction
from tests.synth import synth

PROD = ModelVariant(variant_name="prod", model_name="model-a", instance_type="ml.m5.large")
SHADOW = ModelVariant(variant_name="shadow", model_name="Model-B", instance_type="ml.c5.xlarge", instance_count=2)


def _experiment(stack: Stack, id: str = "Shadow", **overrides) -> ShadowTestExperiment:
    props = {"endpoint_name": "churn-endpoint", "production_variant": PROD, "shadow_variant": SHADOW}
    props.update(overrides)
    return ShadowTestExperiment(stack, id, **props)


def _statements(template: Template, logical_id_prefix: str) -> list[dict]:
    statements = []
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        if logical_id.startswith(logical_id_prefix):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


@pytest.fixture(scope="module")
def full() -> tuple[Template, ShadowTestExperiment]:
    built = {}

    def build(stack: Stack) -> None:
        key = kms.Key(stack, "Key")
        artifacts = s3.Bucket(stack, "Artifacts")
        repository = ecr.Repository(stack, "Images")
        built["exp"] = _experiment(
            stack,
            sampling_percentage=40,
            description="B shadows A",
            kms_key=key,
            data_capture=DataCapture(prefix="capture/", json_content_types=["application/json"]),
            schedule=Schedule(duration=Duration.days(3)),
            shadow_action_on_delete=VariantAction.PROMOTE,
            tags={"team": "churn"},
            artifact_buckets=[artifacts],
            ecr_repositories=[repository],
        )

    template, _stack = synth(build)
    return template, built["exp"]


def test_custom_resource_receives_every_setting(full) -> None:
    template, _ = full
    template.has_resource_properties(
        "Custom::ShadowTestExperiment",
        {
            "ServiceToken": Match.any_value(),
            "EndpointName": "churn-endpoint",
            "RoleArn": {"Fn::GetAtt": [Match.string_like_regexp("ShadowRole"), "Arn"]},
            "ModelVariants": [
                {
                    "VariantName": "prod",
                    "ModelName": "model-a",
                    "InfrastructureConfig": {
                        "RealTimeInferenceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1}
                    },
                },
                {
                    "VariantName": "shadow",
                    "ModelName": "Model-B",
                    "InfrastructureConfig": {
                        "RealTimeInferenceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2}
                    },
                },
            ],
            "ShadowModeConfig": {
                "SourceModelVariantName": "prod",
                "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 40}],
            },
            "Description": "B shadows A",
            "KmsKey": {"Fn::GetAtt": [Match.string_like_regexp("Key"), "Arn"]},
            "DataStorageConfig": {
                "Destination": {
                    "Fn::Join": ["", ["s3://", {"Ref": Match.string_like_regexp("ShadowCaptureBucket")}, "/capture"]]
                },
                "ContentType": {"JsonContentTypes": ["application/json"]},
            },
            "ScheduleDurationSeconds": 259200,
            # The KMS key's ARN is a token at synth: the handler checks it at deploy.
            "DeployTimeChecks": ["kms_key"],
            "ShadowActionOnDelete": "Promote",
            "Tags": [{"Key": "team", "Value": "churn"}],
        },
    )


def test_no_experiment_name_means_the_handler_generates_one(full) -> None:
    template, _ = full
    props = next(iter(template.find_resources("Custom::ShadowTestExperiment").values()))["Properties"]
    assert "Name" not in props


def test_experiment_role_is_assumed_by_sagemaker_only(full) -> None:
    template, _ = full
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
                ]
            },
            "Description": "Assumed by SageMaker to run a shadow test on one endpoint",
        },
    )


def test_experiment_role_is_scoped_to_the_endpoint_and_models(full) -> None:
    template, _ = full
    statements = {s.get("Sid"): s for s in _statements(template, "ShadowRole")}
    endpoint = statements["ManageShadowVariantOnEndpoint"]
    assert endpoint["Action"] == ["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpoint"]
    assert endpoint["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":sagemaker:us-east-1:123456789012:endpoint/churn-endpoint"],
        ]
    }
    models = json.dumps(statements["DescribeVariantModels"]["Resource"])
    # SageMaker writes names lower-case in ARNs.
    assert "model/model-a" in models and "model/model-b" in models
    configs = json.dumps(statements["ManageEndpointConfigs"]["Resource"])
    assert ":sagemaker:us-east-1:123456789012:endpoint-config/*" in configs
    capture = statements["WriteCapturedData"]
    assert capture["Action"] == "s3:PutObject"
    assert capture["Resource"]["Fn::Join"][1][-1] == "/capture/*"


def test_no_statement_of_the_experiment_role_allows_every_resource(full) -> None:
    template, _ = full
    for statement in _statements(template, "ShadowRole"):
        if statement["Action"] == "ecr:GetAuthorizationToken":
            continue  # ECR does not scope this action by resource
        assert statement["Resource"] != "*", statement


def test_experiment_role_uses_the_volume_key_and_reads_artifacts(full) -> None:
    template, _ = full
    actions = [s["Action"] for s in _statements(template, "ShadowRole")]
    flat = {a for action in actions for a in ([action] if isinstance(action, str) else action)}
    assert {"kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"} <= flat
    assert {"s3:GetObject*", "s3:List*"} <= flat
    assert {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:GetAuthorizationToken"} <= flat


def test_handler_may_pass_only_the_experiment_role_to_sagemaker(full) -> None:
    template, _ = full
    statements = _statements(template, "ShadowTestProvider")
    pass_role = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role and all(
        s["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
        and s["Resource"]["Fn::GetAtt"][0].startswith("ShadowRole")
        for s in pass_role
    )
    lifecycle = [s for s in statements if s.get("Sid") == "InferenceExperimentLifecycle"]
    assert lifecycle and "inference-experiment/*" in json.dumps(lifecycle[0]["Resource"])
    sagemaker = [s for s in statements if str(s["Action"]).startswith(("sagemaker", "['sagemaker"))]
    # Only the List action, which AWS does not scope by resource, is on "*".
    assert [s["Action"] for s in sagemaker if s["Resource"] == "*"] == ["sagemaker:ListInferenceExperiments"]


def test_output_holds_the_experiment_arn(full) -> None:
    template, _ = full
    outputs = template.find_outputs("*")
    assert len(outputs) == 1
    (output,) = outputs.values()
    assert output["Value"]["Fn::GetAtt"][1] == "ExperimentArn"


def test_capture_bucket_is_private_encrypted_versioned_and_retained(full) -> None:
    template, exp = full
    assert exp.data_capture_bucket is not None
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                }
            ),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_provider_uses_the_newest_python_and_has_retained_logs(full) -> None:
    template, _ = full
    functions = template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Handler": Match.string_like_regexp("^shadow_test_core\\.experiment\\.handler\\.")}},
    )
    # One function serves on_event and is_complete: its handler routes each invocation.
    assert [f["Properties"]["Handler"] for f in functions.values()] == ["shadow_test_core.experiment.handler.handle"]
    assert {f["Properties"]["Runtime"] for f in functions.values()} == {"python3.14"}
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 365})


def test_second_experiment_adds_no_lambda_function() -> None:
    one, _ = synth(lambda stack: _experiment(stack))

    def two_experiments(stack: Stack) -> None:
        _experiment(stack)
        _experiment(stack, "Other", endpoint_name="other-endpoint")

    two, _ = synth(two_experiments)
    count = len(one.find_resources("AWS::Lambda::Function"))
    assert count == len(two.find_resources("AWS::Lambda::Function")) == 4
    assert len(two.find_resources("Custom::ShadowTestExperiment")) == 2


def test_given_role_is_used_and_no_role_is_created() -> None:
    built = {}

    def build(stack: Stack) -> None:
        role = iam.Role.from_role_arn(stack, "Given", "arn:aws:iam::123456789012:role/shadow-runner", mutable=False)
        built["exp"] = _experiment(stack, role=role, experiment_name="fixed-name")

    template, _ = synth(build)
    assert not [r for r in template.find_resources("AWS::IAM::Role") if r.startswith("ShadowRole")]
    template.has_resource_properties(
        "Custom::ShadowTestExperiment",
        {"RoleArn": "arn:aws:iam::123456789012:role/shadow-runner", "Name": "fixed-name"},
    )
    pass_role = [s for s in _statements(template, "ShadowTestProvider") if s["Action"] == "iam:PassRole"]
    assert pass_role[0]["Resource"] == "arn:aws:iam::123456789012:role/shadow-runner"
    assert built["exp"].data_capture_bucket is None


@pytest.mark.parametrize(
    ("kms_key", "expected_resource", "expected_condition"),
    [
        (
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            None,
        ),
        (
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            ":kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            None,
        ),
        (
            "alias/shadow",
            ":kms:us-east-1:123456789012:key/*",
            {"ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/shadow"]}},
        ),
        (
            "arn:aws:kms:us-east-1:123456789012:alias/shadow",
            ":kms:us-east-1:123456789012:key/*",
            {"ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/shadow"]}},
        ),
    ],
)
def test_kms_key_given_as_string_is_granted_by_arn_or_alias(kms_key, expected_resource, expected_condition) -> None:
    template, _ = synth(lambda stack: _experiment(stack, kms_key=kms_key))
    (statement,) = [s for s in _statements(template, "ShadowRole") if s.get("Sid") == "VolumeKey"]
    assert expected_resource in json.dumps(statement["Resource"])
    assert statement.get("Condition") == expected_condition
    template.has_resource_properties("Custom::ShadowTestExperiment", {"KmsKey": kms_key})


def test_capture_bucket_uses_the_capture_key_and_can_be_destroyed_on_request() -> None:
    def build(stack: Stack) -> None:
        key = kms.Key(stack, "CaptureKey")
        _experiment(
            stack,
            data_capture=DataCapture(kms_key=key),
            capture_bucket_removal_policy=RemovalPolicy.DESTROY,
        )

    template, _ = synth(build)
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            Match.object_like(
                                {"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})}
                            )
                        ]
                    }
                }
            ),
            "DeletionPolicy": "Delete",
        },
    )
    capture = template.find_resources("Custom::ShadowTestExperiment")
    (props,) = [r["Properties"] for r in capture.values()]
    assert props["DataStorageConfig"]["KmsKey"]["Fn::GetAtt"][1] == "Arn"
    # No prefix: the bucket's root, without a trailing slash.
    first, bucket = props["DataStorageConfig"]["Destination"]["Fn::Join"][1]
    assert first == "s3://" and bucket["Ref"].startswith("ShadowCaptureBucket")


def test_user_bucket_is_written_not_created() -> None:
    def build(stack: Stack) -> None:
        bucket = s3.Bucket.from_bucket_name(stack, "Existing", "my-capture-bucket")
        _experiment(stack, data_capture=DataCapture(bucket=bucket, prefix="shadow"))

    template, _ = synth(build)
    assert not template.find_resources("AWS::S3::Bucket")
    template.has_resource_properties(
        "Custom::ShadowTestExperiment", {"DataStorageConfig": {"Destination": "s3://my-capture-bucket/shadow"}}
    )


def test_provider_settings_are_shared_and_conflicts_are_refused() -> None:
    def build(stack: Stack) -> None:
        _experiment(stack, query_interval=Duration.seconds(10))
        with pytest.raises(ValueError, match="query_interval"):
            _experiment(stack, "Other", endpoint_name="other", query_interval=Duration.seconds(20))

    template, _ = synth(build)
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    assert '"IntervalSeconds":10' in json.dumps(machine["Properties"]["DefinitionString"]).replace("\\", "")


def test_experiment_offers_metrics_dashboard_and_alarms() -> None:
    built = {}

    def build(stack: Stack) -> None:
        exp = _experiment(stack)
        built["dashboard"] = exp.add_dashboard()
        built["alarms"] = exp.add_regression_alarms()
        built["exp"] = exp
        built["imported"] = ShadowTestExperiment.from_experiment_name(
            stack, "Imported", "elsewhere", endpoint_name="e", production_variant_name="a", shadow_variant_name="b"
        )

    template, _ = synth(build)
    exp = built["exp"]
    assert exp.shadow.variant_name == "shadow" and exp.production.variant_name == "prod"
    assert exp.shadow.metric_model_latency().metric_name == "ModelLatency"
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    template.resource_count_is("AWS::CloudWatch::Alarm", 3)
    assert len(built["alarms"]) == 3
    assert built["imported"].shadow.variant_name == "b"


def test_each_extra_experiment_adds_three_resources_and_no_handler_statement() -> None:
    def experiments(count: int):
        def build(stack: Stack) -> None:
            for index in range(count):
                _experiment(stack, f"Exp{index}", endpoint_name=f"endpoint-{index}")

        return synth(build)[0]

    one, four = experiments(1), experiments(4)
    count = lambda t: len(t.to_json()["Resources"])  # noqa: E731
    # The experiment's role, its policy and the custom resource.
    assert count(four) - count(one) == 3 * 3
    handler_statements = lambda t: len(_statements(t, "ShadowTestProviderHandlerRole"))  # noqa: E731
    assert handler_statements(four) == handler_statements(one)
    (pass_role,) = [s for s in _statements(four, "ShadowTestProviderHandlerRole") if s["Action"] == "iam:PassRole"]
    assert len(pass_role["Resource"]) == 4


def test_experiment_waits_for_its_role_policy(full) -> None:
    template, _ = full
    (resource,) = template.find_resources("Custom::ShadowTestExperiment").values()
    assert any(d.startswith("ShadowRoleDefaultPolicy") for d in resource["DependsOn"])


def test_the_one_handler_function_routes_polls_to_is_complete_and_requests_to_on_event(monkeypatch) -> None:
    from shadow_test_core.experiment import handler

    routed: list[str] = []
    monkeypatch.setattr(handler, "on_event", lambda event, context=None: routed.append("on_event") or {})
    monkeypatch.setattr(handler, "is_complete", lambda event, context=None: routed.append("is_complete") or {})
    request = {"RequestType": "Create", "LogicalResourceId": "Shadow", "ResourceProperties": {}}
    handler.handle(request)
    # The framework's isComplete event is the request merged with on_event's answer.
    handler.handle({**request, "PhysicalResourceId": "name", handler.HANDLER_STATE: {"startedAt": "now"}})
    handler.handle({**request, "RequestType": "Delete", "PhysicalResourceId": "name"})
    assert routed == ["on_event", "is_complete", "on_event"]
