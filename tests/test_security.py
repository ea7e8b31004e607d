"""Secure by default (docs/security.md): least privilege, a safe capture bucket, clean scanners.

The example app, a minimal stack and a capture stack are synthesized once each, with cdk.json's
context and the five cdk-nag packs; a "variants" stack uses every option, to check that the IAM
statements declared in constructs_pkg/security/statements cover each statement the construct can write
and that no declaration is stale; a stack with a plain ``DataCapture()`` checks that the capture
bucket's server access logs are on by default (defect 2 of issue 12). cfn-lint runs through its API and checkov as a
subprocess of its own virtualenv (it must be installed in CI: .ci/install_checkov.sh).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_cdk import App, RemovalPolicy, Stack, Validations
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template
from constructs import Construct

from constructs_pkg import DataCapture, ModelVariant, ShadowTestExperiment, ValidationError
from constructs_pkg.conclusion import AutomaticConclusion, ConclusionFunction
from constructs_pkg.provider import HANDLER_RUNTIME, LOGS_KEY_POLICY_SID, ShadowTestProvider
from constructs_pkg.security import acknowledgements as nag
from constructs_pkg.security import policy_reading
from constructs_pkg.security.declaration import IDENTITY, RESOURCE, TRUST
from constructs_pkg.security.provider_roles import PROVIDER_ID
from constructs_pkg.security.statements import STATEMENTS

ROOT = Path(__file__).resolve().parent.parent
ENV = {"account": "123456789012", "region": "us-east-1"}
USER_SID = "UserAddedWildcard"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


report = _load("security_report", ROOT / ".ci" / "security_report.py")
security_doc = _load("security_doc", ROOT / ".ci" / "security_doc.py")


# --- the synthesized apps (once per module) --------------------------------------------------


def _build_variants(app: App) -> Stack:
    """Every option the catalog describes: keys as alias, id and ARN; ECR; a given bucket and role; nesting."""
    stack = Stack(app, "Variants", env=report.MINIMAL_ENV)
    capture_key = kms.Key(stack, "CaptureKey", enable_key_rotation=True)
    repository = ecr.Repository(stack, "Images")
    artifacts = s3.Bucket(stack, "Artifacts", enforce_ssl=True)
    team = Construct(stack, "Team")

    def variant(name: str) -> ModelVariant:
        return ModelVariant(variant_name=name, model_name=f"model-{name}", instance_type="ml.m5.large")

    alias = ShadowTestExperiment(
        team,
        "Alias",
        endpoint_name="alias-endpoint",
        production_variant=variant("prod"),
        shadow_variant=variant("shadow"),
        kms_key="alias/shadow",
        data_capture=DataCapture(prefix="capture/", kms_key=capture_key),
        artifact_buckets=[artifacts],
        ecr_repositories=[repository],
        capture_bucket_removal_policy=RemovalPolicy.DESTROY,
    )
    # A statement the user adds to the construct's role: cdk-nag must still report its wildcards.
    alias.role.add_to_principal_policy(iam.PolicyStatement(sid=USER_SID, actions=["s3:*"], resources=["*"]))
    # Who runs `shadow-test compare`: grant_read_capture's statements land in the grantee's policy.
    reader = iam.Role(stack, "CaptureReader", assumed_by=iam.AccountRootPrincipal())
    alias.grant_read_capture(reader)
    # The automatic conclusion: its own regression alarms (added after), a topic, evidence in the
    # KMS-encrypted capture bucket; a pipeline's role reads the verdict.
    alias.add_automatic_conclusion(promote=True, topic=sns.Topic(stack, "Conclusions", enforce_ssl=True))
    alias.add_regression_alarms()
    alias.grant_read_verdict(reader)
    # The capture as an Athena table over a given bucket (no key: SSE-S3 results), and who may query it.
    key_id = ShadowTestExperiment(
        stack,
        "KeyId",
        endpoint_name="key-id-endpoint",
        production_variant=variant("prod"),
        shadow_variant=variant("shadow"),
        kms_key="1234abcd-12ab-34cd-56ef-1234567890ab",
        data_capture=DataCapture(
            bucket=s3.Bucket.from_bucket_name(stack, "Given", "my-capture-bucket"), prefix="shadow"
        ),
    )
    key_id.add_automatic_conclusion(alarms=[])
    key_id.add_capture_table(database_name="given_capture", table_name="shadow_capture")
    key_id.grant_query_capture(iam.Role(stack, "CaptureAnalyst", assumed_by=iam.AccountRootPrincipal()))
    ShadowTestExperiment(
        stack,
        "KeyArn",
        endpoint_name="key-arn-endpoint",
        production_variant=variant("prod"),
        shadow_variant=variant("shadow"),
        kms_key="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    ShadowTestExperiment(
        stack,
        "GivenRole",
        endpoint_name="given-role-endpoint",
        production_variant=variant("prod"),
        shadow_variant=variant("shadow"),
        role=iam.Role.from_role_arn(stack, "Runner", "arn:aws:iam::123456789012:role/shadow-runner", mutable=False),
        kms_key="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    return stack


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return report.synthesize(report.build_example, tmp_path_factory.mktemp("example"))


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return report.synthesize(report.build_minimal, tmp_path_factory.mktemp("minimal"))


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return report.synthesize(_build_variants, tmp_path_factory.mktemp("variants"))


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return report.synthesize(report.build_capture, tmp_path_factory.mktemp("capture"))


def _build_default_capture(app: App) -> Stack:
    return report.build_minimal(app, stack_name="DefaultCapture", data_capture=DataCapture(prefix="capture"))


def _build_capture_logs_off(app: App) -> Stack:
    return report.build_minimal(
        app, stack_name="CaptureLogsOff", data_capture=DataCapture(prefix="capture"), capture_access_logs=False
    )


@pytest.fixture(scope="module")
def default_capture(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A plain ``DataCapture()``: the construct's capture bucket, S3-managed keys, access logs by default."""
    return report.synthesize(_build_default_capture, tmp_path_factory.mktemp("default-capture"))


@pytest.fixture(scope="module")
def capture_logs_off(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return report.synthesize(_build_capture_logs_off, tmp_path_factory.mktemp("capture-logs-off"))


@pytest.fixture(params=["example", "minimal", "capture"])
def scanned(request: pytest.FixtureRequest) -> Any:
    """The stacks that must be clean."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def checkov_executable() -> Path:
    executable = report.checkov_bin()
    if executable is None or not executable.exists():
        message = f"checkov {report.CHECKOV_VERSION} is not installed: run .ci/install_checkov.sh or set CHECKOV_BIN"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return executable


@pytest.fixture(scope="module")
def checkov_results(
    example: Any, minimal: Any, capture: Any, default_capture: Any, capture_logs_off: Any, checkov_executable: Path
) -> dict[str, dict[str, Any]]:
    stacks = (example, minimal, capture, default_capture, capture_logs_off)
    return {s.stack_name: report.checkov(s.template_path, checkov_executable) for s in stacks}


# --- reading the templates -----------------------------------------------------------------


def _canonical(synthesized: Any) -> policy_reading.Canonical:
    resources = synthesized.template["Resources"]
    prefix = synthesized.stack_name + "/"
    paths = {
        logical_id: resource["Metadata"]["aws:cdk:path"].removeprefix(prefix)
        for logical_id, resource in resources.items()
        if "aws:cdk:path" in resource.get("Metadata", {})
    }
    account = synthesized.stack.account
    return policy_reading.Canonical(
        paths, synthesized.experiments, region=ENV["region"], account=account if account == ENV["account"] else None
    )


def _references(value: Any) -> set[str]:
    """The logical ids that ``value`` refers to (Ref and Fn::GetAtt, at any depth)."""
    if isinstance(value, list):
        return set().union(*map(_references, value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
    if isinstance(value.get("Fn::GetAtt"), list):
        found.add(value["Fn::GetAtt"][0])
    return found.union(*map(_references, value.values()))


#: Sids of the statements the library itself writes into a grantee's policy (``grant_read_verdict``).
_GRANTEE_SIDS = {d.sid for d in STATEMENTS if d.policy_of == "{given}" and d.kind == IDENTITY and d.written_by is None}


def _mentions_owned(canonical: policy_reading.Canonical, statement: dict[str, Any]) -> bool:
    if statement.get("Sid") in _GRANTEE_SIDS:
        return True
    return any(canonical.of_logical_id(logical_id) for logical_id in _references(statement))


def construct_atoms(synthesized: Any) -> list[policy_reading.Atom]:
    """Every statement the construct created in a template, as atoms in the declarations' terms.

    Policies of the construct's roles and buckets, statements of other bucket and role policies that
    name the construct's resources (S3 access logging, ``grant_read_capture``) and the provider's
    statement in a key policy.
    """
    canonical = _canonical(synthesized)
    atoms: list[policy_reading.Atom] = []
    for logical_id, resource in synthesized.template["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        owned = canonical.of_logical_id(logical_id)
        if kind == "AWS::IAM::Role" and owned:
            assert not properties.get("ManagedPolicyArns"), f"{owned} has managed policies"
            atoms += canonical.atoms(properties["AssumeRolePolicyDocument"], policy_of=owned, kind=TRUST)
            for policy in properties.get("Policies", []):
                atoms += canonical.atoms(policy["PolicyDocument"], policy_of=owned, kind=IDENTITY)
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in properties.get("Roles", []):
                if role_path := canonical.of_logical_id(role["Ref"]):
                    atoms += canonical.atoms(properties["PolicyDocument"], policy_of=role_path, kind=IDENTITY)
                else:  # a grantee's policy: what the construct's grant_* methods wrote into it
                    statements = [s for s in properties["PolicyDocument"]["Statement"] if _mentions_owned(canonical, s)]
                    atoms += canonical.atoms({"Statement": statements}, policy_of="{given}", kind=IDENTITY)
        elif kind == "AWS::S3::BucketPolicy":
            bucket = canonical.of_logical_id(properties["Bucket"]["Ref"]) if "Ref" in properties["Bucket"] else None
            statements = [
                s for s in properties["PolicyDocument"]["Statement"] if bucket or _mentions_owned(canonical, s)
            ]
            document = {"Statement": statements}
            atoms += canonical.atoms(document, policy_of=bucket or "{given}", kind=RESOURCE)
        elif kind == "AWS::KMS::Key":
            statements = [s for s in properties["KeyPolicy"]["Statement"] if s.get("Sid") == LOGS_KEY_POLICY_SID]
            atoms += canonical.atoms({"Statement": statements}, policy_of=owned or "{given}", kind=RESOURCE)
    return [a for a in atoms if a.sid != USER_SID]


# --- least privilege ----------------------------------------------------------------------


ALL_STACKS = ["example", "minimal", "capture", "default_capture", "capture_logs_off", "variants"]


@pytest.fixture(scope="module")
def every_stack(request: pytest.FixtureRequest) -> list[Any]:
    return [request.getfixturevalue(name) for name in ALL_STACKS]


@pytest.mark.parametrize("name", ALL_STACKS)
def test_every_statement_of_the_construct_is_declared(name: str, request: pytest.FixtureRequest) -> None:
    synthesized = request.getfixturevalue(name)
    atoms = construct_atoms(synthesized)
    assert atoms
    unlisted = sorted({a.describe() for a in atoms if not policy_reading.declarations_allowing(a)})
    assert not unlisted, "statements missing from constructs_pkg/security/statements:\n" + "\n".join(unlisted)


def test_every_declared_statement_is_synthesized_somewhere(every_stack: list[Any]) -> None:
    atoms = [a for s in every_stack for a in construct_atoms(s)]
    stale = [
        f"{declared.sid} {declared.policy_of} {declared.actions[0]}... on {declared.resources}"
        for declared in STATEMENTS
        if not any(policy_reading.allows(declared, a) for a in atoms)
    ]
    assert not stale, "declared statements no synthesized stack produces:\n" + "\n".join(stale)


def test_statements_the_library_writes_carry_their_declared_sid(every_stack: list[Any]) -> None:
    written = {(d.sid, d.policy_of) for d in STATEMENTS if d.written_by is None}
    seen = set()
    for atom in (a for s in every_stack for a in construct_atoms(s)):
        for declared in policy_reading.declarations_allowing(atom):
            if declared.written_by is None and atom.sid == declared.sid:
                seen.add((declared.sid, declared.policy_of))
    assert seen == written


def test_a_wildcard_is_declared_only_with_its_reason() -> None:
    for declared in STATEMENTS:
        wildcard = any("*" in text for text in (*declared.actions, *declared.resources))
        # A Deny with a wildcard only narrows (the TLS-only bucket statements).
        assert bool(declared.wildcard) == (wildcard and declared.effect == "Allow"), declared.sid
        assert declared.why and (declared.written_by is None or declared.written_by.startswith("aws-cdk-lib"))


#: Actions AWS does not scope by resource: the only ones allowed on Resource "*" in a role's policy.
UNSCOPED_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "ecr:GetAuthorizationToken",
    "sagemaker:ListInferenceExperiments",
    "cloudwatch:GetMetricData",
}


def test_resource_star_only_for_actions_aws_does_not_scope(every_stack: list[Any]) -> None:
    for synthesized in every_stack:
        for atom in construct_atoms(synthesized):
            if atom.resource != "*":
                continue
            if atom.kind == RESOURCE:
                # In a key policy, "*" is the key itself.
                assert atom.principal == "Service:logs.{region}.amazonaws.com", atom.describe()
            else:
                assert atom.action in UNSCOPED_ACTIONS, atom.describe()
    documented = ROOT.joinpath("docs", "security.md").read_text()
    assert all(f"`{action}`" in documented for action in UNSCOPED_ACTIONS)


def test_experiment_role_has_no_managed_policy_and_trusts_sagemaker_only(minimal: Any) -> None:
    atoms = [a for a in construct_atoms(minimal) if a.kind == TRUST]
    assert {(a.policy_of, a.principal) for a in atoms} == {
        ("{experiment}/Role", "Service:sagemaker.amazonaws.com"),
        (f"{PROVIDER_ID}/HandlerRole", "Service:lambda.amazonaws.com"),
        (f"{PROVIDER_ID}/FrameworkOnEventRole", "Service:lambda.amazonaws.com"),
        (f"{PROVIDER_ID}/FrameworkCompleteRole", "Service:lambda.amazonaws.com"),
        (f"{PROVIDER_ID}/Provider/waiter-state-machine/Role", "Service:states.amazonaws.com"),
    }


# --- the functions ---------------------------------------------------------------------------


def _newest_python() -> str:
    versions = [
        tuple(int(p) for p in name.split("_")[1:])
        for name in dir(lambda_.Runtime)
        if re.fullmatch(r"PYTHON_\d+_\d+", name)
    ]
    major, minor = max(versions)
    return getattr(lambda_.Runtime, f"PYTHON_{major}_{minor}").name


def test_handlers_run_on_the_newest_python_that_aws_cdk_lib_offers(minimal: Any) -> None:
    assert HANDLER_RUNTIME.name == _newest_python()
    functions = [r for r in minimal.template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    handlers = [f for f in functions if f["Properties"]["Handler"].startswith("shadow_test_core.experiment.handler.")]
    assert len(handlers) == 1 and {f["Properties"]["Runtime"] for f in handlers} == {_newest_python()}


@pytest.mark.parametrize("name", ["example", "minimal"])
def test_every_function_logs_json_to_a_retained_log_group_and_is_traced(
    name: str, request: pytest.FixtureRequest
) -> None:
    resources = request.getfixturevalue(name).template["Resources"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert len(functions) == 4  # the handler (on_event and is_complete) and the Provider framework's three
    for logical_id, function in functions.items():
        properties = function["Properties"]
        logging = properties["LoggingConfig"]
        assert logging["LogFormat"] == "JSON", logical_id
        (group_id,) = {v for v in json.dumps(logging["LogGroup"]).split('"') if v in resources}
        assert resources[group_id]["Type"] == "AWS::Logs::LogGroup"
        assert resources[group_id]["Properties"]["RetentionInDays"] == 365, logical_id
        assert properties["TracingConfig"] == {"Mode": "Active"}, logical_id
        assert properties["MemorySize"] >= 128, logical_id
    (machine,) = [r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_example_encrypts_the_provider_logs_with_its_key(example: Any) -> None:
    resources = example.template["Resources"]
    groups = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) == 2 and all(
        g["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["Key961B73FD", "Arn"]} for g in groups
    )


def _handler_module(path: str = "experiment/handler.py") -> ast.Module:
    return ast.parse((ROOT / "lambda" / "shadow_test_core" / path).read_text())


#: The entry points of the deployed functions, each with its one JSON logger.
_ENTRY_MODULES = ("experiment/handler.py", "verdict/conclusion_handler.py")


@pytest.mark.parametrize("path", _ENTRY_MODULES)
def test_handler_prints_only_through_its_json_logger(path: str) -> None:
    tree = _handler_module(path)
    printers = [
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for call in ast.walk(function)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print"
    ]
    assert printers == ["_log"]
    for module in (ROOT / "lambda" / "shadow_test_core").rglob("*.py"):
        source = module.read_text()
        if module.name == "sagemaker_api.py":
            # Only to cap the AWS SDK's own loggers (defect 1): it logs nothing itself.
            calls = set(re.findall(r"logging\.(\w+)", source))
            assert calls <= {"getLogger", "INFO"}, calls
            assert re.findall(r"logger\.(\w+)\(", source) == ["getEffectiveLevel", "setLevel"]
        else:
            assert "import logging" not in source and "getLogger" not in source, module
        if str(module.relative_to(ROOT / "lambda" / "shadow_test_core")) not in _ENTRY_MODULES:
            assert "print(" not in source, module


def test_handler_never_logs_the_event_itself() -> None:
    tree = _handler_module()
    (log,) = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "_log"]
    event_param = log.args.args[0].arg
    # Inside _log the event is only read key by key, for fields that hold no secret.
    reads = [
        node
        for node in ast.walk(log)
        if isinstance(node, ast.Name) and node.id == event_param and isinstance(node.ctx, ast.Load)
    ]
    allowed = {"RequestType", "LogicalResourceId", "PhysicalResourceId"}
    keys = [
        call.args[0].value
        for call in ast.walk(log)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == event_param
        and call.func.attr == "get"
        and isinstance(call.args[0], ast.Constant)
    ]
    assert set(keys) <= allowed and len(keys) == len(reads)
    # No caller passes the event, its properties or its response URL as a field.
    forbidden = {"event", "properties", "ResourceProperties", "OldResourceProperties", "ResponseURL"}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "_log":
            for keyword in call.keywords:
                assert keyword.arg not in forbidden
                names = {n.id for n in ast.walk(keyword.value) if isinstance(n, ast.Name)}
                assert not names & {"event", "properties"}, ast.unparse(keyword)


def test_handler_log_line_holds_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    from shadow_test_core.experiment import handler

    secret_url = "https://cloudformation-custom-resource-response.s3.amazonaws.com/x?X-Amz-Signature=SECRET"
    event = {
        "RequestType": "Create",
        "ResponseURL": secret_url,
        "LogicalResourceId": "Shadow",
        "ResourceProperties": {"RoleArn": "arn:aws:iam::123456789012:role/secret-role", "Token": "AKIASECRET"},
        "Credentials": {"SecretAccessKey": "SECRET"},
    }
    handler._log(event, "request received")
    out = capsys.readouterr().out
    (line,) = out.splitlines()
    assert json.loads(line) == {
        "message": "request received",
        "requestType": "Create",
        "logicalResourceId": "Shadow",
        "physicalResourceId": None,
    }
    assert "SECRET" not in out and "secret-role" not in out


def test_encryption_key_must_be_given_before_the_first_experiment() -> None:
    stack = Stack(App(), "KeyStack")
    ShadowTestProvider.of(stack)
    with pytest.raises(ValueError, match=r"encryption_key: .* already created with no key"):
        ShadowTestProvider.of(stack, encryption_key=kms.Key(stack, "Key"))


# --- the capture bucket ---------------------------------------------------------------------


def test_capture_bucket_is_private_tls_only_encrypted_versioned_logged_and_retained(example: Any) -> None:
    resources = example.template["Resources"]
    (bucket_id,) = [
        k for k, r in resources.items() if k.startswith("ShadowCaptureBucket") and r["Type"] == "AWS::S3::Bucket"
    ]
    bucket = resources[bucket_id]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    properties = bucket["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["Key961B73FD", "Arn"]},
    }
    assert rule["BucketKeyEnabled"] is True
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert properties["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "AccessLogs8B620ECA"},
        "LogFilePrefix": "shadow-capture/",
    }
    (policy,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_capture_access_logs_bucket_is_ignored_with_a_warning_for_a_given_bucket() -> None:
    from tests.synth import synth

    def build(stack: Stack) -> None:
        ShadowTestExperiment(
            stack,
            "Shadow",
            endpoint_name="churn-endpoint",
            production_variant=ModelVariant(variant_name="prod", model_name="a", instance_type="ml.m5.large"),
            shadow_variant=ModelVariant(variant_name="shadow", model_name="b", instance_type="ml.m5.large"),
            data_capture=DataCapture(bucket=s3.Bucket.from_bucket_name(stack, "Given", "given-bucket")),
            capture_access_logs_bucket=s3.Bucket.from_bucket_name(stack, "Logs", "logs-bucket"),
        )

    template, stack = synth(build)
    assert not template.find_resources("AWS::S3::Bucket")
    Annotations.from_stack(stack).has_warning(
        "/TestStack/Shadow", Match.string_like_regexp("capture_access_logs_bucket")
    )


# --- cdk-nag ------------------------------------------------------------------------------


def test_nag_packs_report_no_unacknowledged_finding(scanned: Any) -> None:
    plugins = {p["pluginName"] for p in scanned.report["pluginReports"]}
    assert plugins <= set(nag.PACKS) and nag.AWS_SOLUTIONS in plugins  # the packs ran
    open_findings = report.nag_findings(scanned.report)
    assert not open_findings, "\n".join(f"{rule} {path}" for _, rule, path, _ in open_findings)


def test_each_acknowledgement_is_pack_qualified_on_the_exact_resource_with_a_reason(scanned: Any) -> None:
    suppressed = [
        (plugin["pluginName"], violation, construct)
        for plugin in scanned.report["pluginReports"]
        for violation in plugin.get("suppressedViolations") or []
        for construct in violation["violatingConstructs"]
    ]
    assert suppressed
    for pack, violation, construct in suppressed:
        assert violation["acknowledgedId"] == f"{pack}::{violation['ruleName']}"
        assert violation["acknowledgedAt"] == construct["constructPath"]  # the resource itself, not a scope
        assert len(violation["reason"]) >= 60, violation["reason"]


def test_every_acknowledgement_meets_a_finding(scanned: Any) -> None:
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    applied = {
        (construct.node.path, rule)
        for construct in scanned.stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == key
        for rule in entry.data
    }
    met = {
        (violation["acknowledgedAt"], violation["acknowledgedId"])
        for plugin in scanned.report["pluginReports"]
        for violation in plugin.get("suppressedViolations") or []
    }
    assert applied == met, sorted(applied ^ met)


def test_construct_acknowledgements_come_from_the_declarations(scanned: Any) -> None:
    canonical = _canonical(scanned)
    reasons = {a.reason for a in nag.ACKNOWLEDGEMENTS} | {s.wildcard for s in STATEMENTS if s.wildcard}
    for _pack, rule, path, reason in report.nag_findings(scanned.report, "suppressedViolations"):
        if canonical.owned_path(path.removeprefix(scanned.stack_name + "/")) is not None:
            assert set(reason.split(" / ")) <= reasons, (rule, path)


def test_example_acknowledgements_are_documented(example: Any) -> None:
    documented = ROOT.joinpath("docs", "security.md").read_text()
    canonical = _canonical(example)
    for _pack, rule, path, _reason in report.nag_findings(example.report, "suppressedViolations"):
        relative = path.removeprefix(example.stack_name + "/").removesuffix("/Resource")
        if canonical.owned_path(relative) is None:
            assert f"`{rule}`" in documented and f"`{relative}`" in documented, (rule, path)


def test_a_wildcard_the_user_adds_to_the_construct_role_is_still_reported(variants: Any) -> None:
    open_findings = {
        (rule, path.removeprefix("Variants/")) for _, rule, path, _ in report.nag_findings(variants.report)
    }
    policy = "Team/Alias/Role/DefaultPolicy/Resource"
    assert ("AwsSolutions-IAM5[Action::s3:*]", policy) in open_findings
    assert ("AwsSolutions-IAM5[Resource::*]", policy) in open_findings
    # The construct's own wildcards on that policy stay acknowledged.
    suppressed = {
        (rule, path.removeprefix("Variants/"))
        for _, rule, path, _ in report.nag_findings(variants.report, "suppressedViolations")
    }
    assert ("AwsSolutions-IAM5[Action::s3:GetObject*]", policy) in suppressed


# --- cfn-lint ------------------------------------------------------------------------------

#: Resources that aws-cdk-lib makes depend on the role they also reference (W3005, docs/security.md).
REDUNDANT_ROLE_DEPENDENCY = {
    "AWS::Lambda::Function",
    "AWS::StepFunctions::StateMachine",
}


@pytest.mark.slow
def test_cfn_lint_reports_no_error_and_only_the_explained_warning(scanned: Any) -> None:
    resources = scanned.template["Resources"]
    for rule, severity, message, path in report.cfn_lint(scanned.template_path):
        assert (rule, severity) == ("W3005", "warning"), (rule, message)
        dependent = resources[path[1]]["Type"]
        dependency = message.split("'")[1]
        assert dependent in REDUNDANT_ROLE_DEPENDENCY and resources[dependency]["Type"] == "AWS::IAM::Role", message


# --- checkov -----------------------------------------------------------------------------------

#: The example's own skip (its access-log bucket), documented in docs/security.md.
EXAMPLE_SKIPS = {("CKV_AWS_18", "AccessLogs")}


#: The stacks checkov must pass (the last stack of ``checkov_results`` turns access logging off).
CHECKOV_CLEAN = (report.EXAMPLE_STACK, report.MINIMAL_STACK, report.CAPTURE_STACK, "DefaultCapture")


@pytest.mark.slow
def test_checkov_fails_no_check(checkov_results: dict[str, dict[str, Any]]) -> None:
    for stack_name in CHECKOV_CLEAN:
        summary = checkov_results[stack_name]["summary"]
        assert summary["resource_count"] > 0, stack_name  # checkov read the template
        assert summary["failed"] == 0, (stack_name, report.checkov_failed(checkov_results[stack_name]))


@pytest.mark.slow
def test_checkov_skips_are_the_documented_ones(scanned: Any, checkov_results: dict[str, dict[str, Any]]) -> None:
    canonical = _canonical(scanned)
    owners = {nag.PROVIDER: [scanned.stack.node.find_child(PROVIDER_ID)]}
    owners[nag.EXPERIMENT] = [_find(scanned.stack, p) for p in scanned.experiments]
    nodes = scanned.stack.node.find_all()
    owners[nag.CONCLUSION] = [n for n in nodes if isinstance(n, ConclusionFunction)]
    owners[nag.CONCLUSION_RULE] = [
        rule for n in nodes if isinstance(n, AutomaticConclusion) for rule in (n.schedule_rule, n.alarm_rule) if rule
    ]
    root = scanned.stack.node.path + "/"
    expected = set()
    for entry in nag.CHECKOV_SKIPS:
        for owner in owners[entry.owner]:
            owned = nag.OwnedResources.of(owner, scanned.stack, root)
            if nag.applies(entry.when, owned):
                targets = nag.targets(owned, entry.targets)
                expected |= {(entry.check, canonical.owned_path(t.node.path.removeprefix(root))) for t in targets}
    found = set()
    for resource in scanned.template["Resources"].values():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip["comment"]) >= 60, skip
            path = resource["Metadata"]["aws:cdk:path"].removeprefix(scanned.stack_name + "/")
            found.add((skip["id"], canonical.owned_path(path) or path.removesuffix("/Resource")))
    assert found == expected | (EXAMPLE_SKIPS if scanned.stack_name == report.EXAMPLE_STACK else set())
    skipped = checkov_results[scanned.stack_name]["results"]["skipped_checks"]
    assert len(skipped) == len(found) and all(c["check_result"]["suppress_comment"] for c in skipped)


def _find(scope: Construct, path: str) -> Construct:
    for part in path.split("/"):
        child = scope.node.find_child(part)
        assert isinstance(child, Construct)
        scope = child
    return scope


# --- defect 2: the construct's capture bucket logs its access by default -------------------------

LOGGING_RULES = {"AwsSolutions-S1", *(f"{pack}-S3BucketLoggingEnabled" for pack in (nag.HIPAA, nag.NIST, nag.PCI))}


def _bucket(synthesized: Any, id: str) -> tuple[str, dict[str, Any]]:
    (logical_id,) = [
        k
        for k, r in synthesized.template["Resources"].items()
        if r["Type"] == "AWS::S3::Bucket" and r["Metadata"]["aws:cdk:path"].endswith(f"/Shadow/{id}/Resource")
    ]
    return logical_id, synthesized.template["Resources"][logical_id]


def test_default_capture_bucket_logs_to_a_log_bucket_of_the_construct_with_the_same_protections(
    default_capture: Any,
) -> None:
    log_id, log_bucket = _bucket(default_capture, "CaptureAccessLogs")
    _capture_id, capture_bucket = _bucket(default_capture, "CaptureBucket")
    assert capture_bucket["Properties"]["LoggingConfiguration"] == {"DestinationBucketName": {"Ref": log_id}}
    properties = log_bucket["Properties"]
    assert (
        properties["PublicAccessBlockConfiguration"] == capture_bucket["Properties"]["PublicAccessBlockConfiguration"]
    )
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}  # the only encryption S3 logging delivers to
    ]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    # cdk.json sets @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy: delivery by bucket policy, ACLs disabled.
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert log_bucket["DeletionPolicy"] == capture_bucket["DeletionPolicy"] == "Retain"
    (policy,) = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in default_capture.template["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": log_id}
    ]
    deny, deliver = policy
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deliver["Principal"] == {"Service": "logging.s3.amazonaws.com"} and deliver["Action"] == "s3:PutObject"


def test_default_capture_bucket_has_no_open_logging_finding(default_capture: Any) -> None:
    open_logging = [f for f in report.nag_findings(default_capture.report) if f[1] in LOGGING_RULES]
    assert open_logging == []
    # What a plain DataCapture() still shows is the user's choice of key, documented in docs/security.md.
    assert {rule.split("-", 1)[1] for _, rule, _, _ in report.nag_findings(default_capture.report)} == {
        "S3DefaultEncryptionKMS"
    }


def test_log_bucket_is_a_log_destination_that_cdk_nag_does_not_ask_to_log(default_capture: Any) -> None:
    # cdk-nag exempts server access log destinations from its logging rules (nothing to acknowledge);
    # checkov does not, so CKV_AWS_18 is skipped on the log bucket with the reason (next test).
    for key in ("violations", "suppressedViolations"):
        on_log_bucket = {
            rule
            for _, rule, path, _ in report.nag_findings(default_capture.report, key)
            if path.endswith("/Shadow/CaptureAccessLogs/Resource")
        }
        assert not on_log_bucket & LOGGING_RULES, key


@pytest.mark.slow
def test_checkov_passes_access_logging_of_the_default_capture_bucket(
    checkov_results: dict[str, dict[str, Any]],
) -> None:
    result = checkov_results["DefaultCapture"]
    assert result["summary"]["resource_count"] > 0 and result["summary"]["failed"] == 0
    (skipped,) = [c for c in result["results"]["skipped_checks"] if c["check_id"] == "CKV_AWS_18"]
    assert "CaptureAccessLogs" in skipped["resource"]
    assert "destination of the capture bucket's server access logs" in skipped["check_result"]["suppress_comment"]


@pytest.mark.slow
def test_capture_access_logs_off_leaves_the_logging_finding_to_the_user(
    capture_logs_off: Any, checkov_results: dict[str, dict[str, Any]]
) -> None:
    assert not [
        r
        for r in capture_logs_off.template["Resources"].values()
        if "CaptureAccessLogs" in r["Metadata"]["aws:cdk:path"]
    ]
    open_logging = {
        (rule, path.removeprefix("CaptureLogsOff/"))
        for _, rule, path, _ in report.nag_findings(capture_logs_off.report)
        if rule in LOGGING_RULES
    }
    assert open_logging == {(rule, "Shadow/CaptureBucket/Resource") for rule in LOGGING_RULES}
    failed = report.checkov_failed(checkov_results["CaptureLogsOff"])
    assert [check for check, resource in failed if "CaptureBucket" in resource] == ["CKV_AWS_18"]


def test_capture_access_logs_bucket_with_logging_off_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"capture_access_logs_bucket: given while capture_access_logs is False"):
        report.build_minimal(
            App(),
            data_capture=DataCapture(),
            capture_access_logs=False,
            capture_access_logs_bucket=s3.Bucket.from_bucket_name(Stack(App(), "Other"), "Logs", "logs-bucket"),
        )


def test_log_bucket_without_the_bucket_policy_flag_takes_log_delivery_through_its_acl() -> None:
    app = App(context={"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": False})
    stack = report.build_minimal(app, data_capture=DataCapture())
    buckets = Template.from_stack(stack).find_resources("AWS::S3::Bucket")
    (log_bucket,) = [r for logical_id, r in buckets.items() if logical_id.startswith("ShadowCaptureAccessLogs")]
    assert log_bucket["Properties"]["AccessControl"] == "LogDeliveryWrite"
    assert log_bucket["Properties"]["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "ObjectWriter"}]}


# --- the documentation -------------------------------------------------------------------------


def test_security_doc_tables_match_the_declarations() -> None:
    for document, names in security_doc.DOCUMENTS.items():
        assert security_doc.stale_tables(document.read_text(), names) == [], (
            f"{document}: run .venv/bin/python .ci/security_doc.py"
        )


def test_readme_points_to_the_security_doc_instead_of_restating_statements() -> None:
    readme = ROOT.joinpath("README.md").read_text()
    assert "docs/security.md" in readme and "BEGIN GENERATED: iam-statements" not in readme
