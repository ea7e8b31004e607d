"""``shadow-test compare``: from a local directory in-process, and as a subprocess against moto's S3
server (``AWS_ENDPOINT_URL_S3``) with the SageMaker stand-in describing the experiment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from constructs_pkg.cli import main as cli
from constructs_pkg.cli.compare import ENGINES
from devtools.sagemaker_standin import SageMakerStandIn
from tests.capture_factory import Exchange, Scenario, classifier_scenario, write_labels, write_variant

ENDPOINT = "churn-endpoint"
NAMES = ["--endpoint", ENDPOINT, "--production-variant", "prod", "--shadow-variant", "shadow"]
BUCKET = "ml-capture"
ROLE_ARN = "arn:aws:iam::123456789012:role/shadow-test"


@dataclass(frozen=True)
class Capture:
    root: Path
    labels: Path
    scenario: Scenario


def _write(root: Path, scenario: Scenario) -> Capture:
    write_variant(root, ENDPOINT, "prod", scenario.production, per_file=250)
    write_variant(root, ENDPOINT, "shadow", scenario.shadow, per_file=250)
    return Capture(root=root, labels=write_labels(root / "labels.csv", scenario.labels), scenario=scenario)


@pytest.fixture(scope="module")
def better(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    """A shadow clearly more accurate than production (0.95 vs 0.85), sampled at 50 %."""
    scenario = classifier_scenario(2000, sampling=0.5, production_accuracy=0.85, shadow_accuracy=0.95)
    return _write(tmp_path_factory.mktemp("better"), scenario)


@pytest.fixture(scope="module")
def worse(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    scenario = classifier_scenario(2000, sampling=0.5, production_accuracy=0.95, shadow_accuracy=0.80, seed=11)
    return _write(tmp_path_factory.mktemp("worse"), scenario)


Compare = Callable[..., tuple[int, str, str]]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Every scenario runs on both engines: DuckDB (the pairing query) and the streaming path."""
    return str(request.param)


@pytest.fixture
def compare(capsys: pytest.CaptureFixture[str], engine: str) -> Compare:
    def run(*args: str | Path) -> tuple[int, str, str]:
        code = cli.main(["compare", "churn-test", "--engine", engine, *map(str, args)])
        captured = capsys.readouterr()
        return code, _unwrapped(captured.out), _unwrapped(captured.err)

    return run


def _unwrapped(text: str) -> str:
    # rich wraps long lines at the console's width.
    return " ".join(text.split())


def _local(capture: Capture, *args: str | Path) -> list[str | Path]:
    return ["--capture", capture.root, *NAMES, *args]


def test_better_shadow_with_ground_truth_is_promoted(better: Capture, tmp_path: Path, compare: Compare) -> None:
    out_file = tmp_path / "figures.json"
    code, out, err = compare(
        *_local(better, "--output-path", "predictions[0].label", "--ground-truth", better.labels, "--json", out_file),
    )
    assert (code, err) == (0, "")
    assert "Verdict: promote" in out
    figures = json.loads(out_file.read_text())
    shadow_count = len(better.scenario.shadow)
    assert figures["pairs"] == shadow_count
    assert figures["unpaired_production"] == 2000 - shadow_count
    assert figures["unpaired_shadow"] == 0
    assert figures["labelled_pairs"] == shadow_count
    assert 0.80 < figures["production_accuracy"] < 0.90 < figures["shadow_accuracy"] < 1
    assert 0 < figures["agreement"] < 1
    for key in ("agreement_interval", "production_accuracy_interval", "shadow_accuracy_interval"):
        assert figures[key]["low"] < figures[key]["high"]
    assert figures["accuracy_difference_interval"]["low"] > -0.01
    assert (figures["outcome"], figures["exit_code"]) == ("promote", 0)


def test_worse_shadow_is_held(worse: Capture, compare: Compare) -> None:
    code, out, _err = compare(*_local(worse, "--output-path", "predictions[0].label", "--ground-truth", worse.labels))
    assert code == 1
    assert "Verdict: hold" in out


def test_too_few_labelled_pairs_is_not_enough_data(better: Capture, tmp_path: Path, compare: Compare) -> None:
    few = write_labels(tmp_path / "few.csv", dict(list(better.scenario.labels.items())[:20]))
    code, out, _err = compare(*_local(better, "--output-path", "predictions[0].label", "--ground-truth", few))
    assert code == 2
    assert "labelled pairs; a verdict needs at least 30" in out


def test_without_ground_truth_the_report_exits_0(better: Capture, compare: Compare) -> None:
    code, out, _err = compare(*_local(better, "--output-path", "predictions[0].label"))
    assert code == 0
    assert "Agreement:" in out
    assert "Verdict: report" in out


def test_minimum_agreement_decides_without_ground_truth(better: Capture, compare: Compare) -> None:
    # The two models agree on about 82 % of the pairs.
    assert compare(*_local(better, "--output-path", "predictions[0].label", "--min-agreement", "95"))[0] == 1
    assert compare(*_local(better, "--output-path", "predictions[0].label", "--min-agreement", "70"))[0] == 0


def test_whole_json_answers_differ_where_only_the_scores_do(better: Capture, tmp_path: Path, compare: Compare) -> None:
    whole, picked = tmp_path / "whole.json", tmp_path / "picked.json"
    compare(*_local(better, "--json", whole))
    compare(*_local(better, "--output-path", "predictions[0].label", "--json", picked))
    assert json.loads(whole.read_text())["agreement"] < json.loads(picked.read_text())["agreement"]


def test_examples_lists_that_many_disagreements(better: Capture, tmp_path: Path, compare: Compare) -> None:
    out_file = tmp_path / "figures.json"
    code, out, _err = compare(
        *_local(better, "--output-path", "predictions[0].label", "--examples", "2", "--json", out_file)
    )
    assert code == 0
    examples = json.loads(out_file.read_text())["disagreements"]
    assert len(examples) == 2
    assert {examples[0]["production_answer"], examples[0]["shadow_answer"]} == {"churn", "stay"}
    assert examples[0]["inference_id"] in out


def test_malformed_record_exits_3_naming_file_line_and_field(tmp_path: Path, compare: Compare) -> None:
    files = write_variant(tmp_path, ENDPOINT, "shadow", [Exchange(request="r", response="1", inference_id="a")] * 3)
    write_variant(tmp_path, ENDPOINT, "prod", [Exchange(request="r", response="1", inference_id="a")])
    lines = files[0].read_text().splitlines()
    head, tail = lines[1].rsplit('"encoding": "CSV"', 1)  # the last one is endpointOutput's
    lines[1] = head + '"encoding": "XML"' + tail
    files[0].write_text("\n".join(lines) + "\n")
    code, _out, err = compare("--capture", tmp_path, *NAMES)
    assert code == 3
    # rich folds the long path at the console's width: compare without whitespace.
    expected = f"{files[0]}, line 2: captureData.endpointOutput.encoding: got 'XML'"
    assert "".join(expected.split()) in "".join(err.split())
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shadow-variant", "shadw"], "no .jsonl capture of variant 'shadw'"),
        (["--output-path", "predictions["], "predictions["),
        (["--ground-truth", "/nonexistent/labels.csv"], "No such file"),
        (["--accuracy-margin", "-1"], "must not be negative"),
    ],
)
def test_errors_exit_3_with_a_message(better: Capture, compare: Compare, args: list[str], message: str) -> None:
    code, _out, err = compare("--capture", better.root, *NAMES, *args)
    assert code == 3
    assert message in err
    assert "Traceback" not in err


# -- as a user runs it: a subprocess against S3 (moto's server) and SageMaker (the stand-in) -----------


@dataclass(frozen=True)
class Services:
    s3_url: str
    standin: SageMakerStandIn
    sagemaker: Any


@pytest.fixture(scope="module")
def services(better: Capture) -> Iterator[Services]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for path in better.root.rglob("*.jsonl"):
        s3.put_object(Bucket=BUCKET, Key=f"shadow-capture/{path.relative_to(better.root)}", Body=path.read_bytes())
    with SageMakerStandIn() as standin:
        sagemaker = boto3.client("sagemaker", endpoint_url=standin.url, region_name="us-east-1")
        yield Services(s3_url=url, standin=standin, sagemaker=sagemaker)
    server.stop()


def _variant(name: str, model: str) -> dict[str, Any]:
    return {
        "ModelName": model,
        "VariantName": name,
        "InfrastructureConfig": {
            "InfrastructureType": "RealTimeInference",
            "RealTimeInferenceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        },
    }


def _experiment(services: Services, name: str, *, endpoint: str = ENDPOINT, capture: bool) -> None:
    services.standin.add_endpoint(endpoint, [{"VariantName": "prod", "ModelName": "model-a"}])
    request: dict[str, Any] = {
        "Name": name,
        "Type": "ShadowMode",
        "RoleArn": ROLE_ARN,
        "EndpointName": endpoint,
        "ModelVariants": [_variant("prod", "model-a"), _variant("shadow", "model-b")],
        "ShadowModeConfig": {
            "SourceModelVariantName": "prod",
            "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 50}],
        },
    }
    if capture:
        request["DataStorageConfig"] = {"Destination": f"s3://{BUCKET}/shadow-capture"}
    services.sagemaker.create_inference_experiment(**request)


def _run(*args: str | Path, s3_url: str, sagemaker_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": s3_url, "AWS_ENDPOINT_URL_SAGEMAKER": sagemaker_url}
    command = [sys.executable, "-m", "constructs_pkg.cli.main", "compare", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_subprocess_reads_s3_without_calling_sagemaker(better: Capture, services: Services, tmp_path: Path) -> None:
    out_file = tmp_path / "s3.json"
    result = _run(
        "deleted-experiment", "--capture", f"s3://{BUCKET}/shadow-capture/", *NAMES,
        "--output-path", "predictions[0].label", "--ground-truth", better.labels, "--json", out_file,
        # Nothing listens on port 9: a SageMaker call would fail the command.
        s3_url=services.s3_url, sagemaker_url="http://127.0.0.1:9",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Not a terminal: no progress bar on stderr.
    assert result.stderr == ""
    figures = json.loads(out_file.read_text())
    assert figures["pairs"] == len(better.scenario.shadow)
    assert figures["experiment"]["capture"] == f"s3://{BUCKET}/shadow-capture/"
    assert f"s3://{BUCKET}/shadow-capture/{ENDPOINT}/prod/" in json.dumps(figures["disagreements"])


def test_subprocess_finds_capture_endpoint_and_variants_by_describing(
    better: Capture, services: Services, tmp_path: Path
) -> None:
    _experiment(services, "churn-test", capture=True)
    out_file = tmp_path / "described.json"
    result = _run(
        "churn-test", "--output-path", "predictions[0].label", "--json", out_file,
        s3_url=services.s3_url, sagemaker_url=services.standin.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "on endpoint churn-endpoint: production prod, shadow shadow" in _unwrapped(result.stdout)
    figures = json.loads(out_file.read_text())
    assert figures["experiment"]["capture"] == f"s3://{BUCKET}/shadow-capture"
    assert figures["pairs"] == len(better.scenario.shadow)


def test_subprocess_experiment_without_capture_exits_3(services: Services) -> None:
    _experiment(services, "no-capture", endpoint="another-endpoint", capture=False)
    result = _run("no-capture", s3_url=services.s3_url, sagemaker_url=services.standin.url)
    assert result.returncode == 3
    assert "no-capture has no data capture (DataStorageConfig); pass --capture" in _unwrapped(result.stderr)
    assert "Traceback" not in result.stderr
