"""Secure by default (docs/security.md): least privilege, a safe capture bucket, clean scanners.

The example app and a minimal stack are synthesized once each, with cdk.json's context and the
five cdk-nag packs; a third stack ("variants") uses every option, to check that the catalog of
IAM statements in constructs_pkg/_acknowledgements.py covers each statement the construct can
write and that no catalog statement is stale. cfn-lint runs through its API and checkov as a
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
from aws_cdk.assertions import Annotations, Match
from constructs import Construct

from constructs_pkg import DataCapture, ModelVariant, ShadowTestExperiment
from constructs_pkg import _acknowledgements as catalog
from constructs_pkg.provider import HANDLER_RUNTIME, LOGS_KEY_POLICY_SID, ShadowTestProvider

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
    ShadowTestExperiment(
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


@pytest.fixture(params=["example", "minimal"])
def scanned(request: pytest.FixtureRequest) -> Any:
    """The two stacks that must be clean."""
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
def checkov_results(example: Any, minimal: Any, checkov_executable: Path) -> dict[str, dict[str, Any]]:
    return {s.stack_name: report.checkov(s.template_path, checkov_executable) for s in (example, minimal)}


# --- reading the templates -----------------------------------------------------------------


def _canonical(synthesized: Any) -> catalog.Canonical:
    resources = synthesized.template["Resources"]
    prefix = synthesized.stack_name + "/"
    paths = {
        logical_id: resource["Metadata"]["aws:cdk:path"].removeprefix(prefix)
        for logical_id, resource in resources.items()
        if "aws:cdk:path" in resource.get("Metadata", {})
    }
    account = synthesized.stack.account
    return catalog.Canonical(
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


def _mentions_owned(canonical: catalog.Canonical, statement: dict[str, Any]) -> bool:
    return any(canonical.of_logical_id(logical_id) for logical_id in _references(statement))


def construct_atoms(synthesized: Any) -> list[catalog.Atom]:
    """Every statement the construct created in a template, as catalog atoms.

    Policies of the construct's roles and buckets, statements of other bucket policies that name
    the construct's resources (S3 access logging) and the provider's statement in a key policy.
    """
    canonical = _canonical(synthesized)
    atoms: list[catalog.Atom] = []
    for logical_id, resource in synthesized.template["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        owned = canonical.of_logical_id(logical_id)
        if kind == "AWS::IAM::Role" and owned:
            assert not properties.get("ManagedPolicyArns"), f"{owned} has managed policies"
            atoms += canonical.atoms(properties["AssumeRolePolicyDocument"], policy_of=owned, kind=catalog.TRUST)
            for policy in properties.get("Policies", []):
                atoms += canonical.atoms(policy["PolicyDocument"], policy_of=owned, kind=catalog.IDENTITY)
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in properties.get("Roles", []):
                if role_path := canonical.of_logical_id(role["Ref"]):
                    atoms += canonical.atoms(properties["PolicyDocument"], policy_of=role_path, kind=catalog.IDENTITY)
        elif kind == "AWS::S3::BucketPolicy":
            bucket = canonical.of_logical_id(properties["Bucket"]["Ref"]) if "Ref" in properties["Bucket"] else None
            statements = [
                s for s in properties["PolicyDocument"]["Statement"] if bucket or _mentions_owned(canonical, s)
            ]
            document = {"Statement": statements}
            atoms += canonical.atoms(document, policy_of=bucket or "{given}", kind=catalog.RESOURCE)
        elif kind == "AWS::KMS::Key":
            statements = [s for s in properties["KeyPolicy"]["Statement"] if s.get("Sid") == LOGS_KEY_POLICY_SID]
            atoms += canonical.atoms({"Statement": statements}, policy_of=owned or "{given}", kind=catalog.RESOURCE)
    return [a for a in atoms if a.sid != USER_SID]


# --- least privilege ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["example", "minimal", "variants"])
def test_every_statement_of_the_construct_is_in_the_catalog(name: str, request: pytest.FixtureRequest) -> None:
    synthesized = request.getfixturevalue(name)
    atoms = construct_atoms(synthesized)
    assert atoms
    unlisted = sorted({a.describe() for a in atoms if not catalog.rows_for(a)})
    assert not unlisted, "statements missing from docs/security.md's IAM table:\n" + "\n".join(unlisted)


def test_every_catalog_statement_is_synthesized_somewhere(example: Any, minimal: Any, variants: Any) -> None:
    atoms = [a for s in (example, minimal, variants) for a in construct_atoms(s)]
    stale = [
        f"{row.policy_of} {row.actions[0]}... on {row.resources}"
        for row in catalog.STATEMENTS
        if not any(row.matches(a) for a in atoms)
    ]
    assert not stale, "catalog statements no synthesized stack produces:\n" + "\n".join(stale)


#: Actions AWS does not scope by resource: the only ones allowed on Resource "*" in a role's policy.
UNSCOPED_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "ecr:GetAuthorizationToken",
    "sagemaker:ListInferenceExperiments",
}


def test_resource_star_only_for_actions_aws_does_not_scope(example: Any, minimal: Any, variants: Any) -> None:
    for synthesized in (example, minimal, variants):
        for atom in construct_atoms(synthesized):
            if atom.resource != "*":
                continue
            if atom.kind == catalog.RESOURCE:
                # In a key policy, "*" is the key itself.
                assert atom.principal == "Service:logs.{region}.amazonaws.com", atom.describe()
            else:
                assert atom.action in UNSCOPED_ACTIONS, atom.describe()
    documented = ROOT.joinpath("docs", "security.md").read_text()
    assert all(f"`{action}`" in documented for action in UNSCOPED_ACTIONS)


def test_experiment_role_has_no_managed_policy_and_trusts_sagemaker_only(minimal: Any) -> None:
    atoms = [a for a in construct_atoms(minimal) if a.kind == catalog.TRUST]
    assert {(a.policy_of, a.principal) for a in atoms} == {
        ("{experiment}/Role", "Service:sagemaker.amazonaws.com"),
        (f"{catalog.PROVIDER_ID}/HandlerRole", "Service:lambda.amazonaws.com"),
        (f"{catalog.PROVIDER_ID}/FrameworkOnEventRole", "Service:lambda.amazonaws.com"),
        (f"{catalog.PROVIDER_ID}/FrameworkCompleteRole", "Service:lambda.amazonaws.com"),
        (f"{catalog.PROVIDER_ID}/Provider/waiter-state-machine/Role", "Service:states.amazonaws.com"),
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
    handlers = [f for f in functions if f["Properties"]["Handler"].startswith("shadow_test_core.handler.")]
    assert len(handlers) == 2 and {f["Properties"]["Runtime"] for f in handlers} == {_newest_python()}


@pytest.mark.parametrize("name", ["example", "minimal"])
def test_every_function_logs_json_to_a_retained_log_group_and_is_traced(
    name: str, request: pytest.FixtureRequest
) -> None:
    resources = request.getfixturevalue(name).template["Resources"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert len(functions) == 5  # the two handlers and the Provider framework's three
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


def _handler_module() -> ast.Module:
    return ast.parse((ROOT / "lambda" / "shadow_test_core" / "handler.py").read_text())


def test_handler_prints_only_through_its_json_logger() -> None:
    tree = _handler_module()
    printers = [
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for call in ast.walk(function)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print"
    ]
    assert printers == ["_log"]
    for module in (ROOT / "lambda" / "shadow_test_core").glob("*.py"):
        source = module.read_text()
        assert "import logging" not in source and "getLogger" not in source, module
        if module.name != "handler.py":
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
    from shadow_test_core import handler

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
    assert plugins <= set(catalog.PACKS) and catalog.AWS_SOLUTIONS in plugins  # the packs ran
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


def test_construct_acknowledgements_come_from_the_catalog(scanned: Any) -> None:
    canonical = _canonical(scanned)
    reasons = {a.reason for a in catalog.ACKNOWLEDGEMENTS} | {s.wildcard for s in catalog.STATEMENTS if s.wildcard}
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


def test_checkov_fails_no_check(checkov_results: dict[str, dict[str, Any]]) -> None:
    for stack_name, result in checkov_results.items():
        summary = result["summary"]
        assert summary["resource_count"] > 0, stack_name  # checkov read the template
        assert summary["failed"] == 0, (stack_name, report.checkov_failed(result))


def test_checkov_skips_are_the_documented_ones(scanned: Any, checkov_results: dict[str, dict[str, Any]]) -> None:
    canonical = _canonical(scanned)
    owners = {catalog.PROVIDER: [(catalog.PROVIDER_ID, scanned.stack.node.find_child(catalog.PROVIDER_ID))]}
    owners[catalog.EXPERIMENT] = [(p, _find(scanned.stack, p)) for p in scanned.experiments]
    expected = set()
    for entry in catalog.CHECKOV_SKIPS:
        for path, owner in owners[entry.owner]:
            if catalog.applies(entry.when, owner):
                expected |= {(entry.check, canonical.owned_path(f"{path}/{target}")) for target in entry.targets}
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


# --- the documentation -------------------------------------------------------------------------


def test_security_doc_and_readme_tables_match_the_catalog() -> None:
    for document, names in security_doc.DOCUMENTS.items():
        assert security_doc.stale_tables(document.read_text(), names) == [], (
            f"{document}: run .venv/bin/python .ci/security_doc.py"
        )
