"""BENCHMARKS.md from one run's measurements: the numbers, the goals met or missed, and why."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from benchmarks._measure import Sample, ratio
from benchmarks.cold_start import ColdStart
from benchmarks.deploy_bench import DeployResult
from benchmarks.suite_bench import COMMAND as SUITE_COMMAND
from benchmarks.suite_bench import SuiteResult
from benchmarks.synth_bench import (
    MAX_MANAGED_POLICIES_PER_ROLE,
    MAX_OUTPUTS,
    MAX_RESOURCES,
    Capacity,
    Growth,
    SynthSeries,
)

SYNTH_RATIO_GOAL = 1.5
RESOURCES_PER_EXPERIMENT_GOAL = 3.0
IMPORT_RATIO_GOAL = 1.2
#: Intervals compared when explaining the default query_interval (5 s is the CDK Provider's default).
CANDIDATE_INTERVALS = (5, 10, 15, 30, 60)
#: A unit of SageMaker work for the comparison of intervals (an assumption, not a measurement).
SAGEMAKER_MINUTES = 10
PARALLEL_EXPERIMENTS = 50
KIND_NAMES = {"construct": "ShadowTestExperiment", "l1": "CfnInferenceExperiment + hand-written role"}


@dataclass(frozen=True)
class Results:
    command: str
    started_at: datetime
    seconds: float
    machine: dict[str, str]
    versions: dict[str, str]
    load_before: str
    load_after: str
    section_seconds: dict[str, float]
    single: dict[str, SynthSeries]
    unvalidated: dict[str, SynthSeries]  # the same synths with CDK's template validation off
    growth: Growth
    growth_counts: tuple[int, ...]
    capacity: Capacity | None
    cold: ColdStart
    deploy: DeployResult
    suite: SuiteResult | None


@dataclass(frozen=True)
class Goal:
    name: str
    measured: str
    met: bool
    fix: str = ""
    #: Met, but not with a margin that other conditions (load, CDK settings) would keep.
    narrow: bool = False


# --- numbers derived from the measurements ---------------------------------------------------


def synth_ratio(results: Results) -> float:
    return ratio(results.single["construct"].sample().median, results.single["l1"].sample().median)


def synth_best_ratio(results: Results) -> float:
    """The ratio of the fastest runs: other load only ever adds time, so minima show the floor."""
    return ratio(results.single["construct"].sample().minimum, results.single["l1"].sample().minimum)


def synth_unvalidated_ratio(results: Results) -> float:
    return ratio(results.unvalidated["construct"].sample().median, results.unvalidated["l1"].sample().median)


def synth_cpu_ratio(results: Results) -> float:
    construct, l1 = results.single["construct"], results.single["l1"]
    return ratio(construct.sample("cpu_seconds").median, l1.sample("cpu_seconds").median)


def validation_seconds(series: SynthSeries) -> float:
    """The construct's synth-time validation: loading shadow_test_core.experiment.rules plus every check_settings call."""
    return series.sample("validation_module_load_seconds").median + series.sample("validation_total_seconds").median


def marginals(results: Results, kind: str) -> list[tuple[int, int, float]]:
    """(from, to, resources per extra experiment) over consecutive sizes, then over the whole range."""
    counts = results.growth_counts
    pairs = [*itertools.pairwise(counts), (counts[0], counts[-1])]
    found = [(low, high, results.growth.marginal(kind, "resources", low, high)) for low, high in pairs]
    if kind == "construct" and results.capacity is not None:
        first = results.growth.series[kind][counts[0]].facts["resources"]
        per = (results.capacity.facts["resources"] - first) / (results.capacity.experiments - counts[0])
        found.append((counts[0], results.capacity.experiments, per))
    return found


def import_ratios(cold: ColdStart) -> tuple[float, float]:
    """handler / boto3: by -X importtime, and by the interpreters' wall times."""
    by_importtime = ratio(cold.import_time["import handler"].median, cold.import_time["import boto3"].median)
    by_wall = ratio(cold.wall["import handler"].median, cold.wall["import boto3"].median)
    return by_importtime, by_wall


def calls_per_poll(deploy: DeployResult) -> Sample:
    """SageMaker calls each ``is_complete`` poll made (the handler's client, retries not counted)."""
    return Sample.of(
        len(calls) for step in deploy.steps for name, _seconds, calls in step.invocations if name == "is_complete"
    )


def reads_per_poll(deploy: DeployResult) -> float:
    """The mean of :func:`calls_per_poll` (polls of a plain create or update make 2: describe, tags)."""
    sample = calls_per_poll(deploy)
    return sum(sample.values) / len(sample.values)


def waiting_poll_calls(deploy: DeployResult) -> float:
    """SageMaker calls of a poll that only waits (reads, no create/stop/delete), median."""
    reads_only = [
        len(calls)
        for step in deploy.steps
        for name, _seconds, calls in step.invocations
        if name == "is_complete" and calls and all(call.startswith(("Describe", "List")) for call in calls)
    ]
    return Sample.of(reads_only).median if reads_only else reads_per_poll(deploy)


def lambda_seconds_per_poll(deploy: DeployResult) -> float:
    return Sample.of(deploy.warm_invocations).median


# --- goals -----------------------------------------------------------------------------------


def goals(results: Results) -> list[Goal]:
    return [_synth_goal(results), _resources_goal(results), _import_goal(results), _defaults_goal(results)]


def _synth_goal(results: Results) -> Goal:
    construct, l1 = results.single["construct"], results.single["l1"]
    by_wall, by_cpu = synth_ratio(results), synth_cpu_ratio(results)
    met = by_wall <= SYNTH_RATIO_GOAL
    measured = (
        f"{by_wall:.2f}\N{MULTIPLICATION SIGN} by wall time ({construct.sample().median:.2f} s vs {l1.sample().median:.2f} s), "
        f"{by_cpu:.2f}\N{MULTIPLICATION SIGN} by CPU time ({construct.sample('cpu_seconds').median:.2f} s vs "
        f"{l1.sample('cpu_seconds').median:.2f} s); medians of {len(construct.runs)} fresh processes each; "
        f"fastest runs: {synth_best_ratio(results):.2f}\N{MULTIPLICATION SIGN}"
    )
    if not met and synth_best_ratio(results) <= SYNTH_RATIO_GOAL:
        measured += " \N{EM DASH} the fastest runs are within the goal: the shared machine's load may decide it"
    if met and synth_unvalidated_ratio(results) > SYNTH_RATIO_GOAL:
        measured += (
            f" \N{EM DASH} met thanks to CDK's own template validation, a cost both pay: with it off "
            f"(CDK_VALIDATION=false) the ratio is {synth_unvalidated_ratio(results):.2f}\N{MULTIPLICATION SIGN}"
        )
    if met and by_cpu > SYNTH_RATIO_GOAL:
        measured += (
            " — met by wall time only: the CPU-time ratio, less sensitive to the shared machine's load, exceeds it"
        )
    extra = construct.facts["resources"] - l1.facts["resources"]
    fix = (
        f"The gap comes from the provider's {extra} extra resources (synthesized, validated by CDK, staged) far "
        f"more than from the construct's own code: its prop validation is {validation_seconds(construct):.2f} s; "
        f"with CDK's template validation off the ratio is {synth_unvalidated_ratio(results):.2f}\N{MULTIPLICATION SIGN}. "
        "The provider's fixed cost is already one Lambda function serving both on_event and is_complete "
        "(handler.handle routes on on_event's HandlerState). What would fix the rest: "
        "read the prop-validation rules from a small JSON "
        "extracted from botocore's sagemaker model at build time (a test checks it against the installed "
        "botocore) instead of importing botocore and parsing the whole model at synth."
    )
    narrow = met and max(by_cpu, synth_best_ratio(results), synth_unvalidated_ratio(results)) > SYNTH_RATIO_GOAL
    return Goal(
        f"Synth with one experiment within {SYNTH_RATIO_GOAL}\N{MULTIPLICATION SIGN} the L1 version",
        measured,
        met,
        fix,
        narrow,
    )


def _resources_goal(results: Results) -> Goal:
    found = marginals(results, "construct")
    sizes = set(results.growth_counts)
    # The goal is judged on the growth series (1, 10, 50); the capacity probe is reported beside it.
    judged = [per for low, high, per in found if low in sizes and high in sizes]
    measured = "; ".join(
        f"{low}→{high}: {per:.2f}" + ("" if high in sizes else " (capacity probe)") for low, high, per in found
    )
    met = max(judged) <= RESOURCES_PER_EXPERIMENT_GOAL + 1e-9
    types = _extra_types(results)
    fix = (
        "Each experiment adds exactly a Role, its DefaultPolicy and the custom resource (3). The handler's "
        "policy grows by one role ARN per experiment (one iam:PassRole statement, exact ARNs; DescribeEndpoint "
        f"is one endpoint-wide read-only statement). Extra resources beyond 3 per experiment: {types}: near "
        "CloudFormation's 500-resource limit the PassRole statement outgrows the role's inline policy and CDK "
        "moves part of it into an overflow managed policy. Granting iam:PassRole on an IAM path "
        "(role/shadow-test/*) would keep the policy constant, at the cost of letting the handler pass any "
        "role under that path; the construct keeps exact ARNs."
    )
    return Goal(f"At most {RESOURCES_PER_EXPERIMENT_GOAL:.0f} resources per extra experiment", measured, met, fix)


def _extra_types(results: Results) -> str:
    counts = results.growth_counts
    first = Counter(results.growth.series["construct"][counts[0]].facts["resource_types"])
    last_facts = results.capacity.facts if results.capacity else results.growth.series["construct"][counts[-1]].facts
    last_count = results.capacity.experiments if results.capacity else counts[-1]
    grown = Counter(last_facts["resource_types"]) - first
    per_experiment = {t: n for t, n in grown.items() if n != last_count - counts[0]}
    return (
        ", ".join(
            f"{n} \N{MULTIPLICATION SIGN} {t} at {last_count} experiments" for t, n in sorted(per_experiment.items())
        )
        or "none"
    )


def _import_goal(results: Results) -> Goal:
    by_importtime, by_wall = import_ratios(results.cold)
    cold = results.cold
    measured = (
        f"{by_importtime:.2f}\N{MULTIPLICATION SIGN} by -X importtime ({cold.import_time['import handler'].median * 1000:.0f} ms vs "
        f"{cold.import_time['import boto3'].median * 1000:.0f} ms); {by_wall:.2f}\N{MULTIPLICATION SIGN} by interpreter wall time "
        f"({cold.wall['import handler'].median * 1000:.0f} ms vs {cold.wall['import boto3'].median * 1000:.0f} ms)"
    )
    met = max(by_importtime, by_wall) <= IMPORT_RATIO_GOAL
    fix = (
        "Move every import of boto3/botocore (and any client creation) out of module level into the "
        "functions that call SageMaker, as sagemaker_api.create_client() and rules.member_shape() do."
    )
    return Goal(
        f"Handler import within {IMPORT_RATIO_GOAL}\N{MULTIPLICATION SIGN} of `import boto3`", measured, met, fix
    )


def _defaults_goal(results: Results) -> Goal:
    defaults = results.deploy.defaults
    present = set(defaults.props) == {"query_interval", "total_timeout"}
    measured = (
        f"props {', '.join(defaults.props) or 'missing'}; defaults query_interval={defaults.query_interval:.0f} s, "
        f"total_timeout={defaults.total_timeout / 60:.0f} min, explained below (Polling defaults)"
    )
    fix = "Add query_interval and total_timeout as props of ShadowTestExperiment, passed to ShadowTestProvider.of."
    return Goal(
        "Polling interval and total timeout are props, defaults chosen from the numbers", measured, present, fix
    )


# --- rendering -------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _seconds(sample: Sample) -> str:
    return sample.describe(1.0, "s", 2)


def _millis(sample: Sample, digits: int = 1) -> str:
    return sample.describe(1000.0, "ms", digits)


def _header(results: Results) -> list[str]:
    machine, versions = results.machine, results.versions
    parts = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in results.section_seconds.items())
    return [
        "# Benchmarks",
        "",
        "What `ShadowTestExperiment` costs, measured side by side with the native resource in one run on one "
        "machine. Nothing calls AWS: deploys run against the loopback SageMaker stand-in. Not part of the test "
        "suite. Regenerate with:",
        "",
        "```bash",
        f"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 .venv/bin/{results.command}",
        "```",
        "",
        f"Run at {results.started_at:%Y-%m-%d %H:%M} UTC on commit `{versions['commit']}` plus the working tree "
        f"of the moment (others were editing); it took {results.seconds:.0f} s ({parts}).",
        "",
        f"- **Machine:** {machine['nproc']} CPUs (nproc), {machine['CPU']}, {machine['memory']} memory, "
        f"{machine['OS']}; 1-minute load average {results.load_before} before the run and {results.load_after} "
        "after. The machine was shared: medians, interleaved runs and CPU times damp other people's load, "
        "they do not remove it.",
        "- **Versions:** " + ", ".join(f"{name} {version}" for name, version in versions.items() if name != "commit"),
        "",
    ]


def _verdict(goal: Goal) -> str:
    if not goal.met:
        return "**not met**"
    return "**met (narrowly)**" if goal.narrow else "**met**"


def _goals_section(results: Results) -> list[str]:
    found = goals(results)
    rows = [[goal.name, _verdict(goal), goal.measured] for goal in found]
    lines = ["## Goals", "", *_table(["Goal", "Result", "Measured"], rows), ""]
    for goal in found:
        if not goal.met:
            lines += [f"**{goal.name} \N{EM DASH} not met.** {goal.fix}", ""]
        elif goal.narrow:
            lines += [f"**{goal.name} \N{EM DASH} met, narrowly.** {goal.fix}", ""]
    return lines


def _synth_section(results: Results) -> list[str]:
    rows = []
    for kind, series in results.single.items():
        facts = series.facts
        rows.append(
            [
                KIND_NAMES[kind],
                _seconds(series.sample()),
                _seconds(series.sample("cpu_seconds")),
                _seconds(series.sample("import_seconds")),
                _seconds(series.sample("build_seconds")),
                _seconds(series.sample("synth_seconds")),
                _seconds(series.sample("exit_seconds")),
                str(facts["resources"]),
                f"{facts['template_bytes']:,}",
            ]
        )
    construct, l1 = results.single["construct"], results.single["l1"]
    largest = results.growth.series["construct"][results.growth_counts[-1]]
    return [
        "## 1. Synth time: one experiment, construct vs L1",
        "",
        "Each synth is a fresh `python -m benchmarks.synth_app KIND 1 OUTDIR` process (interpreter, jsii/node "
        "kernel, imports, construct tree, asset staging, cloud assembly), timed from spawn to exit; the two "
        "kinds alternate run by run. CPU: user + system time of the process and its node child, which other "
        "load on the machine disturbs less than wall time. The stack uses the project's `cdk.json` feature "
        "flags. The L1 version is `CfnInferenceExperiment` with a role whose inline policy grants what the "
        "construct's role grants, and a `CfnOutput` of the ARN as the construct has. Phases, timed inside the "
        "process: import (`aws_cdk`, and `constructs_pkg` for the construct), build (the experiments' "
        "constructs), `app.synth()`; exit: from the end of that work to the process's end (jsii stops its "
        "node kernel). Times: median (min\N{EN DASH}max, n).",
        "",
        *_table(
            [
                "Stack",
                "Wall (fresh process)",
                "CPU",
                "Import",
                "Build",
                "app.synth()",
                "Exit",
                "Resources",
                "Template bytes",
            ],
            rows,
        ),
        "",
        f"**Ratio construct / L1: {synth_ratio(results):.2f}\N{MULTIPLICATION SIGN} by wall time, "
        f"{synth_cpu_ratio(results):.2f}\N{MULTIPLICATION SIGN} by CPU time** (medians); fastest run against "
        f"fastest run: {synth_best_ratio(results):.2f}\N{MULTIPLICATION SIGN}.",
        "",
        *_synth_gap_lines(results),
        "",
        *_cdk_validation_lines(results),
        "",
        "**What the synth-time validation adds** (the construct checks its props with the handler's "
        "`shadow_test_core.experiment.rules`, which reads botocore's `sagemaker` service model): loading the rules module "
        f"{_millis(construct.sample('validation_module_load_seconds'))}, the first `check_settings` call "
        f"(imports botocore, parses the model) {_millis(construct.sample('validation_first_seconds'))}; in all "
        f"≈{validation_seconds(construct) * 1000:.0f} ms, "
        f"{ratio(validation_seconds(construct), construct.sample().median) * 100:.1f}% of the construct's synth "
        "wall time; without it the ratio would be "
        f"{ratio(construct.sample().median - validation_seconds(construct), l1.sample().median):.2f}\N{MULTIPLICATION SIGN}. Later calls "
        f"reuse the parsed model: all {results.growth_counts[-1]} calls of the {results.growth_counts[-1]}-experiment "
        f"stack took {_millis(largest.sample('validation_total_seconds'))} together.",
        "",
    ]


def _median_difference(construct: SynthSeries, l1: SynthSeries, key: str) -> float:
    return construct.sample(key).median - l1.sample(key).median


def _gap_parts(construct: SynthSeries, l1: SynthSeries) -> str:
    """The construct's extra synth time phase by phase (differences of medians)."""

    def unaccounted(series: SynthSeries) -> float:
        """Interpreter start, App and Stack creation: wall time outside the named phases."""
        named = ("import_seconds", "build_seconds", "synth_seconds", "exit_seconds")
        return series.sample().median - sum(series.sample(key).median for key in named)

    differences = [
        ("import", _median_difference(construct, l1, "import_seconds")),
        ("build", _median_difference(construct, l1, "build_seconds")),
        ("app.synth()", _median_difference(construct, l1, "synth_seconds")),
        ("exit", _median_difference(construct, l1, "exit_seconds")),
        ("the rest", unaccounted(construct) - unaccounted(l1)),
    ]
    total = construct.sample().median - l1.sample().median
    return f"{total:+.2f} s = " + ", ".join(f"{name} {seconds:+.2f} s" for name, seconds in differences)


def _synth_gap_lines(results: Results) -> list[str]:
    construct, l1 = results.single["construct"], results.single["l1"]
    extra = construct.facts["resources"] - l1.facts["resources"]
    return [
        "Where the construct's extra time goes (construct \N{MINUS SIGN} L1, differences of medians): "
        f"{_gap_parts(construct, l1)}; with CDK's template validation off (below): "
        f"{_gap_parts(results.unvalidated['construct'], results.unvalidated['l1'])}. Build includes the prop "
        f"validation below; the construct also has {extra} more resources to synthesize (the handler's "
        "function, the Provider framework's functions and state machine, their roles, policies and log groups) "
        "and two assets to stage (the handler's code, the framework's)."
    ]


def _cdk_validation_lines(results: Results) -> list[str]:
    """How much of synth is CDK's own template validation, from the runs with it switched off."""
    construct, l1 = results.unvalidated["construct"], results.unvalidated["l1"]
    share_construct = results.single["construct"].sample().median - construct.sample().median
    share_l1 = results.single["l1"].sample().median - l1.sample().median
    alike = abs(share_construct - share_l1) <= 0.2 * max(share_construct, share_l1)
    comparison = (
        "about the same for both: a fixed cost, which dilutes the ratio"
        if alike
        else "different for the two: it depends on the template"
    )
    return [
        "**CDK's own template validation.** aws-cdk-lib runs a CloudFormation validation (a WebAssembly rule "
        "engine) inside `app.synth()` by default, and its exit takes longer after it; `CDK_VALIDATION=false` "
        f"switches it off. The same synths with it off: construct {_seconds(construct.sample())}, L1 "
        f"{_seconds(l1.sample())} wall, **{synth_unvalidated_ratio(results):.2f}\N{MULTIPLICATION SIGN}** "
        f"({ratio(construct.sample('cpu_seconds').median, l1.sample('cpu_seconds').median):.2f}\N{MULTIPLICATION SIGN} "
        f"by CPU). CDK's validation is thus ≈{share_construct:.1f} s of the construct's synth and ≈{share_l1:.1f} s "
        f"of the L1's, the largest single cost of both, and {comparison}."
    ]


def _growth_section(results: Results) -> list[str]:
    rows = []
    for count in results.growth_counts:
        for kind in ("construct", "l1"):
            series = results.growth.series[kind][count]
            facts = series.facts
            rows.append(
                [
                    str(count),
                    KIND_NAMES[kind],
                    _seconds(series.sample()),
                    _seconds(series.sample("cpu_seconds")),
                    str(facts["resources"]),
                    str(facts["outputs"]),
                    f"{facts['template_bytes']:,} / {facts['template_bytes_minified']:,}",
                    str(facts["resource_types"].get("AWS::IAM::ManagedPolicy", 0)),
                ]
            )
    lines = [
        "## 2. Growth: 1, 10 and 50 experiments in one stack",
        "",
        "Each experiment on its own endpoint (`endpoint-000`, `endpoint-001`, ...); every size synthesized "
        "as above. Template bytes: the file CDK writes (indented) / minified JSON.",
        "",
        *_table(
            ["Experiments", "Stack", "Wall", "CPU", "Resources", "Outputs", "Template bytes", "IAM managed policies"],
            rows,
        ),
        "",
        *_marginal_table(results),
        "",
        *_capacity_lines(results),
    ]
    return lines


def _marginal_table(results: Results) -> list[str]:
    rows = []
    for kind in ("construct", "l1"):
        for low, high, per in marginals(results, kind):
            if high not in results.growth.series[kind]:
                rows.append([KIND_NAMES[kind], f"{low} → {high}", f"{per:.2f}", "", "", ""])
                continue
            rows.append(
                [
                    KIND_NAMES[kind],
                    f"{low} → {high}",
                    f"{per:.2f}",
                    f"{results.growth.marginal(kind, 'template_bytes', low, high):,.0f}",
                    f"{results.growth.marginal(kind, 'template_bytes_minified', low, high):,.0f}",
                    f"{_slope(results, kind, low, high, 'cpu_seconds') * 1000:.0f} ms",
                ]
            )
    return [
        "Marginal cost of one more experiment (synth time by CPU time, as wall-time differences between sizes "
        "drown in the shared machine's noise; differences of a few hundred ms, even negative ones, are still noise "
        "at 1 \N{RIGHTWARDS ARROW} 10):",
        "",
        *_table(["Stack", "Between", "Resources", "Template bytes", "Minified bytes", "Synth CPU time"], rows),
    ]


def _slope(results: Results, kind: str, low: int, high: int, key: str) -> float:
    series = results.growth.series[kind]
    return (series[high].sample(key).median - series[low].sample(key).median) / (high - low)


def _capacity_lines(results: Results) -> list[str]:
    low, high = results.growth_counts[-2], results.growth_counts[-1]
    l1_slope = results.growth.marginal("l1", "resources", low, high)
    l1_fixed = results.growth.fixed_resources("l1", low, high)
    l1_fit = min(math.floor((MAX_RESOURCES - l1_fixed) / l1_slope), MAX_OUTPUTS)
    lines = [
        f"**How many experiments fit in one stack** (CloudFormation: {MAX_RESOURCES} resources, {MAX_OUTPUTS} outputs per template; IAM: {MAX_MANAGED_POLICIES_PER_ROLE} managed policies per role by default):",
        "",
    ]
    if results.capacity is None:
        slope = results.growth.marginal("construct", "resources", low, high)
        fixed = results.growth.fixed_resources("construct", low, high)
        lines.append(f"- construct: ≈{math.floor((MAX_RESOURCES - fixed) / slope)} (extrapolated, not synthesized).")
    else:
        capacity = results.capacity
        facts = capacity.facts
        probes = ", ".join(f"{n} → {r}" for n, r in capacity.probes)
        lines.append(
            f"- `ShadowTestExperiment`: **{'' if capacity.proven else 'at least '}{capacity.experiments} experiments** "
            f"— synthesized: {facts['resources']} resources "
            f"({'one more does not fit' if capacity.proven else 'the probes did not reach the limit'}), "
            f"{facts['outputs']} outputs, "
            f"{facts['resource_types'].get('AWS::IAM::ManagedPolicy', 0)} overflow managed policies "
            f"(at most {facts['max_managed_policies_per_role']} on one role), template "
            f"{facts['template_bytes']:,} bytes ({facts['template_bytes_minified']:,} minified; CloudFormation "
            f"accepts 1 MB from S3, where the CDK CLI uploads large templates). Probes (experiments → resources): {probes}."
        )
    lines += [
        f"- L1 version: {l1_fit} (extrapolated: {l1_fixed:.0f} fixed + {l1_slope:.0f} per experiment; with one "
        "output each the 200-output limit binds first).",
        "",
    ]
    return lines


def _cold_section(results: Results) -> list[str]:
    cold = results.cold
    rows = [
        [f"`{name}`", _millis(cold.wall[name]), _millis(cold.import_time[name]) if name in cold.import_time else "—"]
        for name in cold.wall
    ]
    by_importtime, by_wall = import_ratios(cold)
    return [
        "## 3. Handler cold start",
        "",
        "Fresh interpreters with `lambda/` on `PYTHONPATH` (the handler's modules are top-level in Lambda) and "
        "no bytecode written (the asset ships no `__pycache__`, so Lambda compiles the handler on each cold "
        "start too; boto3's bytecode is cached, as in the runtime). Wall: spawn to exit, interpreter start-up "
        "included (see `pass`). `-X importtime`: cumulative time of that module's import alone.",
        "",
        *_table(["Snippet", "Interpreter wall", "-X importtime"], rows),
        "",
        f"**Ratio import handler / import boto3: {by_importtime:.2f}\N{MULTIPLICATION SIGN} (-X importtime), {by_wall:.2f}\N{MULTIPLICATION SIGN} (wall).** "
        "The handler imports no boto3/botocore at module level: the client is created on first use "
        "(`sagemaker_api.create_client()`) and botocore's model is read on the first validation "
        "(`rules.member_shape()`).",
        "",
        f"Validation in a fresh interpreter: import `shadow_test_core.experiment.rules` {_millis(cold.validation['import'])}; first "
        f"`check_settings` {_millis(cold.validation['first_check'])} (botocore import + model); second "
        f"{_millis(cold.validation['second_check'], 2)}. A cold Create's on_event pays import, client and "
        "validation (last row above); the difference between the last two rows is the service model parsed a "
        "second time, in the validation's own botocore session.",
        "",
    ]


def _deploy_rows(deploy: DeployResult) -> list[list[str]]:
    interval = deploy.defaults.query_interval
    rows = []
    for step in deploy.steps:
        calls = ", ".join(f"{op} {n}" for op, n in sorted(step.sagemaker_calls.items()))
        user = step.count("on_event") + step.count("is_complete")
        polls = step.count("is_complete")
        rows.append(
            [
                step.label,
                f"{step.count('on_event')} + {polls} = {user} ({2 * user} with the framework's)",
                f"{sum(step.sagemaker_calls.values())} ({calls})",
                f"{step.wall_seconds * 1000:.0f} ms",
                f"{step.handler_seconds * 1000:.0f} ms",
                f"{polls * interval + step.handler_seconds:.0f} s",
                f"{step.estimated_seconds(interval):.0f} s",
            ]
        )
    return rows


def _deploy_section(results: Results) -> list[str]:
    deploy = results.deploy
    interval = deploy.defaults.query_interval
    warm = Sample.of(deploy.warm_invocations)
    return [
        f"## 4. Deploy path against the loopback SageMaker stand-in (query_interval {interval:.0f} s)",
        "",
        "The real handler in a fresh interpreter (a cold Lambda), driven by `devtools/provider_driver.py` (the "
        "Provider framework's behaviour), its botocore client talking to `devtools/sagemaker_standin` on "
        "127.0.0.1. The stand-in moves an experiment one status per DescribeInferenceExperiment "
        "(`steps_per_transition=1`), so these are the fewest polls the handler needs, not the polls of a real "
        "SageMaker, whose statuses last minutes. Steps run in order on one resource.",
        "",
        *_table(
            [
                "Request",
                "Lambda invocations: on_event + is_complete",
                "SageMaker API calls",
                "Wall (loopback)",
                "Handler time",
                "Estimate: polls \N{MULTIPLICATION SIGN} interval + handler",
                "Estimate: (polls \N{MINUS SIGN} 1) \N{MULTIPLICATION SIGN} interval + handler",
            ],
            _deploy_rows(deploy),
        ),
        "",
        "How the estimates are computed: the brief's formula is `polls \N{MULTIPLICATION SIGN} query_interval + measured handler "
        "time`. The Provider framework's waiter (a Step Functions task retried with "
        "`IntervalSeconds=query_interval`, `BackoffRate=1`, `MaxAttempts=total_timeout/query_interval`) "
        "calls is_complete immediately after on_event and then once per interval, so the framework-accurate "
        "floor is `(polls \N{MINUS SIGN} 1) \N{MULTIPLICATION SIGN} query_interval` per request CloudFormation delivers (the replacing update is "
        "two deliveries: the update, then CloudFormation's cleanup delete of the old experiment) plus handler "
        "time. Neither includes Step Functions/Lambda start latency or the time SageMaker itself needs, which "
        "dominates a real deploy (see Polling defaults). Each user-function invocation is one framework "
        'Lambda invocation too ("with the framework\'s").',
        "",
        f"Handler time: first invocation (cold: botocore import, client creation, service model for validation) "
        f"{deploy.first_invocation_seconds * 1000:.0f} ms; later invocations {_millis(warm)} on loopback (a real "
        f"SageMaker call adds network latency); importing the handler took {deploy.handler_import_seconds * 1000:.0f} ms "
        f"before that. An is_complete poll makes {reads_per_poll(deploy):.1f} SageMaker calls on average "
        f"(median {calls_per_poll(deploy).median:.0f}, at most {calls_per_poll(deploy).maximum:.0f}: "
        "DescribeInferenceExperiment + ListTags for the owner tags, twice while a replacement watches the old "
        "and the new experiment, plus the call that acts when a status settles).",
        "",
    ]


def _defaults_section(results: Results) -> list[str]:
    deploy = results.deploy
    defaults = deploy.defaults
    reads = waiting_poll_calls(deploy)
    work = SAGEMAKER_MINUTES * 60
    rows = []
    for interval in CANDIDATE_INTERVALS:
        polls = work / interval
        attempts = defaults.total_timeout / interval
        rows.append(
            [
                f"{interval} s"
                + (" (CDK Provider default)" if interval == 5 else "")
                + (" **(default)**" if interval == defaults.query_interval else ""),
                f"{interval / 2:.1f} s / {interval} s",
                f"{polls:.0f}",
                f"{2 * polls:.0f}",
                f"{polls * reads:.0f}",
                f"{PARALLEL_EXPERIMENTS * reads / interval:.1f}",
                f"{attempts:.0f}" if attempts == int(attempts) else "not integral: rejected",
            ]
        )
    create = deploy.steps[0]
    return [
        "## Polling defaults: why query_interval = "
        f"{defaults.query_interval:.0f} s and total_timeout = {defaults.total_timeout / 60:.0f} min",
        "",
        "Both are props of `ShadowTestExperiment` (`query_interval`, `total_timeout`; shared by the stack's "
        "provider). The numbers that decide them: a poll costs one user and one framework Lambda invocation "
        f"({lambda_seconds_per_poll(deploy) * 1000:.0f} ms of handler time warm, on loopback) and "
        f"{reads:.0f} SageMaker read calls while it waits (DescribeInferenceExperiment, ListTags); a create needs {create.count('is_complete')} polls even when "
        "SageMaker answers at once, and one per status change otherwise. Per "
        f"{SAGEMAKER_MINUTES} minutes that SageMaker spends on a request (an illustrative unit, not a "
        "measurement — launching a shadow variant's instances takes minutes):",
        "",
        *_table(
            [
                "query_interval",
                "Added latency per request (mean / worst)",
                "Polls",
                "Lambda invocations",
                "SageMaker read calls",
                f"Read calls/s, {PARALLEL_EXPERIMENTS} experiments deploying at once",
                f"Step Functions MaxAttempts in {defaults.total_timeout / 60:.0f} min",
            ],
            rows,
        ),
        "",
        f"- **query_interval = {defaults.query_interval:.0f} s.** The interval only adds latency between "
        f"SageMaker finishing and CloudFormation hearing of it: {defaults.query_interval / 2:.0f} s on average, "
        f"{defaults.query_interval:.0f} s at worst, small against the minutes SageMaker spends on a shadow "
        "variant. The CDK default of 5 s would save ≈12 s per request but make 6\N{MULTIPLICATION SIGN} the polls, Lambda "
        "invocations, Step Functions transitions and SageMaker read calls; with many experiments deploying "
        f"in parallel ({PARALLEL_EXPERIMENTS} here) that is "
        f"{PARALLEL_EXPERIMENTS * reads / 5:.0f} read calls/s instead of "
        f"{PARALLEL_EXPERIMENTS * reads / defaults.query_interval:.1f}, inviting throttling of the Describe "
        'APIs (the handler treats a throttled describe as "not yet", which only lengthens the deploy). '
        "60 s would halve the calls again but double the added latency for little gain. (Independently of "
        "the interval, every poll re-reads the owner tags with ListTags; checking ownership once, when the "
        "request starts, would halve the read calls per poll.)",
        f"- **total_timeout = {defaults.total_timeout / 60:.0f} min.** CloudFormation waits at most 1 hour for a "
        "custom resource (ServiceTimeout, default and maximum 3600 s) and the Provider framework allows at most "
        "1 hour. 45 minutes leaves room for the slowest request — a replacing update waits for SageMaker twice "
        "(stop the old experiment's shadow variant, start the new one) — while making the framework answer "
        'FAILED with "Operation timed out" ≈15 minutes before CloudFormation would give up on its own, so the '
        "rollback starts with a clear reason. total_timeout / query_interval must be a whole number "
        f"(the framework's MaxAttempts): {defaults.total_timeout:.0f} / {defaults.query_interval:.0f} = "
        f"{defaults.total_timeout / defaults.query_interval:.0f} polls at most, i.e. at most "
        f"{2 * defaults.total_timeout / defaults.query_interval:.0f} Lambda invocations and "
        f"{reads * defaults.total_timeout / defaults.query_interval:.0f} SageMaker read calls for a request that "
        "times out.",
        "",
    ]


def _suite_section(results: Results) -> list[str]:
    if results.suite is None:
        return ["## 5. Test suite", "", "Not measured in this run (`--no-suite`).", ""]
    suite = results.suite
    command = " ".join([".venv/bin/python", *SUITE_COMMAND[1:]])
    return [
        "## 5. Test suite",
        "",
        f"`{command}` from the repository's root, once: **{suite.wall_seconds:.1f} s** wall ({suite.summary}; "
        f"exit code {suite.returncode}). Other engineers were adding tests while this ran: this is the suite "
        "as it stood at that moment.",
        "",
    ]


def render(results: Results) -> str:
    sections = [
        _header(results),
        _goals_section(results),
        _synth_section(results),
        _growth_section(results),
        _cold_section(results),
        _deploy_section(results),
        _defaults_section(results),
        _suite_section(results),
    ]
    return "\n".join(line for section in sections for line in section).rstrip() + "\n"
