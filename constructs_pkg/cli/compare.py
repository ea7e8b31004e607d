"""``shadow-test compare NAME``: pair both variants' captured answers, measure agreement and accuracy.

Where to read: ``DescribeInferenceExperiment`` gives the capture destination (``DataStorageConfig``),
the endpoint and both variant names. ``--capture`` reads another place instead (the capture of a
deleted experiment, or a local copy with the same layout); ``--endpoint``, ``--production-variant``
and ``--shadow-variant`` override the names. With ``--capture`` and all three names, SageMaker is not
called at all (NAME is then only a label), so a deleted experiment can still be compared.

Exit codes: with ``--ground-truth`` (or ``--min-agreement``) 0 promote, 1 hold, 2 not enough data;
otherwise 0 after the report; 3 on an error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import NoRegionError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from shadow_test_core.capture.agreement import (
    AgreementReport,
    AgreementThresholds,
    Interval,
    Outcome,
    evaluate_agreement,
)
from shadow_test_core.capture.ground_truth import read_labels
from shadow_test_core.capture.pairing import CompareOptions, PairingSummary, compare_variants
from shadow_test_core.capture.records import CaptureRecord, parse_records
from shadow_test_core.capture.source import CaptureLocation, CaptureObject, CaptureSource, open_capture

from . import athena, aws, engine

__all__ = ["ENGINES", "ENGINE_CHOICES", "CompareTarget", "add_parser", "compare_document", "resolve_target", "run"]

_DEFAULTS = AgreementThresholds()
#: The engines that read a capture location: the embedded SQL engine, and the pure-Python streaming path.
ENGINES = ("duckdb", "stream")
#: ``--engine`` choices: those, and Amazon Athena over the capture table (``add_capture_table``).
ENGINE_CHOICES = (*ENGINES, "athena")
_NAME_FLAGS = ("--endpoint", "--production-variant", "--shadow-variant")
_OUTCOME_STYLE = {
    Outcome.PROMOTE: "bold green",
    Outcome.HOLD: "bold red",
    Outcome.NOT_ENOUGH_DATA: "bold yellow",
    Outcome.REPORT: "bold",
}


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``compare`` to the ``shadow-test`` sub-commands."""
    parser = commands.add_parser(
        "compare", parents=[common], help="pair both variants' captured answers: agreement, accuracy, verdict"
    )
    where = parser.add_argument_group("where the capture is (default: from DescribeInferenceExperiment)")
    where.add_argument(
        "--capture", metavar="S3_URI_OR_DIR", help="capture destination: s3://bucket/prefix or a directory"
    )
    where.add_argument("--endpoint", help="endpoint name (the first level under the destination)")
    where.add_argument("--production-variant", metavar="NAME", help="production variant name")
    where.add_argument("--shadow-variant", metavar="NAME", help="shadow variant name")
    how = parser.add_argument_group("how answers are compared")
    how.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default="duckdb",
        help="duckdb: the pairing query on an embedded DuckDB (the 'compare' extra); "
        "stream: pure Python, every JMESPath --output-path; "
        "athena: the pairing query in Amazon Athena, on the table of add_capture_table (default: duckdb)",
    )
    how.add_argument("--output-path", metavar="EXPR", help="JMESPath selecting what to compare in JSON answers")
    how.add_argument(
        "--tolerance",
        type=_non_negative_float,
        default=0.0,
        metavar="X",
        help="numeric answers within X agree (default: 0)",
    )
    how.add_argument(
        "--examples", type=_non_negative_int, default=5, metavar="N", help="disagreements to list (default: 5)"
    )
    verdict = parser.add_argument_group("verdict")
    verdict.add_argument(
        "--ground-truth", type=Path, metavar="FILE", help="labels: CSV inference_id,label or JSON Lines"
    )
    verdict.add_argument(
        "--accuracy-margin",
        type=_non_negative_float,
        default=_DEFAULTS.accuracy_margin,
        metavar="PP",
        help=f"accuracy points the shadow may lose and be promoted (default: {_DEFAULTS.accuracy_margin:g})",
    )
    verdict.add_argument(
        "--min-agreement",
        type=_non_negative_float,
        metavar="PCT",
        help="without ground truth: lowest agreement in percent for promote (default: report only)",
    )
    verdict.add_argument(
        "--min-pairs",
        type=int,
        default=_DEFAULTS.min_pairs,
        metavar="N",
        help=f"(labelled) pairs a verdict needs (default: {_DEFAULTS.min_pairs})",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    athena.add_arguments(parser)


@dataclass(frozen=True, kw_only=True)
class CompareTarget:
    """What to compare: a capture location, an endpoint and its two variants."""

    name: str
    location: CaptureLocation
    endpoint: str
    production_variant: str
    shadow_variant: str


def resolve_target(args: argparse.Namespace, describe: Callable[[str], aws.ExperimentInfo]) -> CompareTarget:
    """The target from the flags, describing the experiment only for what they leave out."""
    names = (args.endpoint, args.production_variant, args.shadow_variant)
    if (args.capture or args.engine == "athena") and all(names):
        # With Athena, the table says where the capture is (see _compare_in_athena).
        location = CaptureLocation(uri=args.capture or f"{args.database}.{args.table}")
        return CompareTarget(
            name=args.name,
            location=location,
            endpoint=args.endpoint,
            production_variant=args.production_variant,
            shadow_variant=args.shadow_variant,
        )
    try:
        experiment = describe(args.name)
    except NoRegionError:
        if not args.capture:
            raise
        missing = ", ".join(flag for flag, name in zip(_NAME_FLAGS, names, strict=True) if not name)
        raise ValueError(
            f"--capture without {missing}: pass {missing} too, or a region (--region or AWS_REGION) "
            f"so that they are read from the inference experiment {args.name}"
        ) from None
    storage = experiment.raw.get("DataStorageConfig") or {}
    destination = args.capture or storage.get("Destination")
    if not destination:
        raise ValueError(
            f"inference experiment {experiment.name} has no data capture (DataStorageConfig); "
            "pass --capture with the capture's location"
        )
    return CompareTarget(
        name=experiment.name,
        location=CaptureLocation(uri=destination, kms_key=storage.get("KmsKey")),
        endpoint=args.endpoint or experiment.endpoint_name,
        production_variant=args.production_variant or experiment.production.variant_name,
        shadow_variant=args.shadow_variant or experiment.shadow.variant_name,
    )


def _records(
    source: CaptureSource, objects: list[CaptureObject], progress: Progress, task: Any, phase: str
) -> Iterator[CaptureRecord]:
    def advance(size: int) -> None:
        progress.advance(task, size)

    # Generators start when first read: the shadow's phase shows while it is indexed, then production's.
    progress.update(task, description=phase)
    for item in objects:
        yield from parse_records(source.lines(item, advance))


def run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    """Run ``compare``; returns the exit code (errors propagate to ``main``, which answers 3)."""
    thresholds = AgreementThresholds(
        accuracy_margin=args.accuracy_margin, min_agreement=args.min_agreement, min_pairs=args.min_pairs
    )
    options = CompareOptions(output_path=args.output_path, tolerance=args.tolerance, examples=args.examples)
    athena.check_arguments(args)
    # The embedded engine reads the ground truth itself (read_labels only to say what is wrong with it).
    labels = read_labels(args.ground_truth) if args.ground_truth is not None and args.engine == "stream" else None
    target = resolve_target(args, lambda name: aws.describe_experiment(aws.sagemaker_client(args.region), name))
    if args.engine == "athena":
        target, summary, read = _compare_in_athena(args, target, options, console, errors)
        return _report(args, console, target, summary, read, options, thresholds)
    source = open_capture(target.location, s3_client=lambda: boto3.client("s3", region_name=args.region))
    shadow_objects = source.objects(target.endpoint, target.shadow_variant)
    production_objects = source.objects(target.endpoint, target.production_variant)
    total = sum(item.size for item in shadow_objects + production_objects)

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )
    with progress:
        task = progress.add_task("Reading the capture", total=total)
        if args.engine == "stream":
            summary = compare_variants(
                _records(source, production_objects, progress, task, f"Pairing {target.production_variant}"),
                _records(source, shadow_objects, progress, task, f"Indexing {target.shadow_variant}"),
                options=options,
                labels=labels,
            )
        else:
            variants = engine.Variants(
                production=target.production_variant,
                shadow=target.shadow_variant,
                production_objects=production_objects,
                shadow_objects=shadow_objects,
            )
            summary = engine.run_duckdb(
                source,
                variants,
                options=options,
                labels=args.ground_truth,
                on_bytes=lambda size: progress.advance(task, size),
            )
    read = f"{len(shadow_objects) + len(production_objects):,} objects, {total:,} bytes"
    return _report(args, console, target, summary, read, options, thresholds)


def _report(
    args: argparse.Namespace,
    console: Console,
    target: CompareTarget,
    summary: PairingSummary,
    read: str,
    options: CompareOptions,
    thresholds: AgreementThresholds,
) -> int:
    report = evaluate_agreement(summary, thresholds, ground_truth=args.ground_truth is not None)
    _print_report(console, target, summary, report, read=read)
    if args.json is not None:
        document = compare_document(target, summary, report, options=options, thresholds=thresholds)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        console.print(f"Wrote {args.json}")
    return report.outcome.exit_code


def _compare_in_athena(
    args: argparse.Namespace, target: CompareTarget, options: CompareOptions, console: Console, errors: Console
) -> tuple[CompareTarget, PairingSummary, str]:
    """The summary from Athena, the target with the table's location, and what was read (the cost)."""
    uri = athena.table_location(boto3.client("glue", region_name=args.region), database=args.database, table=args.table)
    target = replace(target, location=CaptureLocation(uri=uri))
    summary, outcome = athena.compare_in_athena(
        boto3.client("athena", region_name=args.region),
        database=args.database,
        table=args.table,
        workgroup=args.workgroup,
        endpoint=target.endpoint,
        production_variant=target.production_variant,
        shadow_variant=target.shadow_variant,
        options=options,
        on_state=athena.progress(lambda line: errors.print(line, markup=False)),
        poll_interval=args.poll_interval,
    )
    console.print(athena.describe_cost(outcome), markup=False)
    return target, summary, f"table {args.database}.{args.table} in workgroup {args.workgroup}"


def compare_document(
    target: CompareTarget,
    summary: PairingSummary,
    report: AgreementReport,
    *,
    options: CompareOptions,
    thresholds: AgreementThresholds,
) -> dict[str, Any]:
    """The ``--json`` document: figures as fractions, counts, intervals, disagreements and the verdict."""
    counts = asdict(summary)
    disagreements = counts.pop("disagreements")
    return {
        "experiment": {
            "name": target.name,
            "endpoint_name": target.endpoint,
            "production_variant": target.production_variant,
            "shadow_variant": target.shadow_variant,
            "capture": target.location.uri,
        },
        "options": {"output_path": options.output_path, "tolerance": options.tolerance},
        "thresholds": asdict(thresholds),
        **counts,
        **report.to_dict(),
        "disagreements": [{**example, "inference_time": _time(example["inference_time"])} for example in disagreements],
    }


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def _percent(value: float | None, interval: Interval | None) -> str:
    if value is None:
        return "-"
    text = f"{100 * value:.2f} %"
    if interval is not None:
        text += f" ({100 * interval.low:.2f} to {100 * interval.high:.2f})"
    return text


def _print_report(
    console: Console,
    target: CompareTarget,
    summary: PairingSummary,
    report: AgreementReport,
    *,
    read: str,
) -> None:
    console.print(
        f"[bold]Shadow test {target.name}[/] on endpoint {target.endpoint}: "
        f"production {target.production_variant}, shadow {target.shadow_variant}"
    )
    console.print(f"Capture: {escape(target.location.uri)} ({escape(read)})")
    pairs = Table(title="Pairs", show_header=False)
    pairs.add_column("What")
    pairs.add_column("Count", justify="right")
    for label, value in (
        ("Production records", summary.production_records),
        ("Shadow records", summary.shadow_records),
        ("Pairs", summary.pairs),
        ("  by inferenceId", summary.paired_by_inference_id),
        ("  by request body, nearest in time", summary.paired_by_body),
        ("Production without a shadow twin (not sampled)", summary.unpaired_production),
        ("Shadow without a production twin", summary.unpaired_shadow),
        ("Shadow records repeating an inferenceId", summary.duplicate_inference_ids),
    ):
        pairs.add_row(label, f"{value:,}")
    console.print(pairs)
    confidence = "95 % interval"
    console.print(
        f"Agreement: [bold]{_percent(report.agreement, report.agreement_interval)}[/] "
        f"({summary.agreements:,} of {summary.pairs:,} pairs; {confidence})"
    )
    if summary.missing_answers:
        console.print(
            f"[yellow]Warning:[/] in {summary.missing_answers:,} pairs the output path matched nothing on one side or both"
        )
    if report.labelled_pairs is not None:
        accuracy = Table(title=f"Accuracy on {report.labelled_pairs:,} labelled pairs ({confidence})")
        accuracy.add_column("")
        accuracy.add_column(f"Production ({target.production_variant})", justify="right")
        accuracy.add_column(f"Shadow ({target.shadow_variant})", justify="right")
        accuracy.add_row(
            "Accuracy",
            _percent(report.production_accuracy, report.production_accuracy_interval),
            _percent(report.shadow_accuracy, report.shadow_accuracy_interval),
        )
        accuracy.add_row(
            "Only this one right", f"{report.discordant_production_only:,}", f"{report.discordant_shadow_only:,}"
        )
        console.print(accuracy)
        difference, interval = report.accuracy_difference, report.accuracy_difference_interval
        if difference is not None and interval is not None:
            console.print(
                f"Shadow minus production: [bold]{100 * difference:+.2f} points[/] "
                f"({100 * interval.low:+.2f} to {100 * interval.high:+.2f}; Tango score interval), "
                f"McNemar exact p = {report.mcnemar_p_value:.3g}"
            )
        if summary.labels_unmatched:
            console.print(
                f"Labels of requests without a pair (not sampled, or not captured): {summary.labels_unmatched:,}"
            )
    if summary.disagreements:
        table = Table(title=f"Disagreements (first {len(summary.disagreements)})")
        for column in ("Inference id / event id", "Time", "Production", "Shadow"):
            table.add_column(column)
        table.add_column("Record", overflow="fold")
        for example in summary.disagreements:
            table.add_row(
                escape(example.inference_id or f"event {example.event_id}"),
                _time(example.inference_time),
                escape(example.production_answer),
                escape(example.shadow_answer),
                escape(f"{example.source}:{example.line}"),
            )
        console.print(table)
    style = _OUTCOME_STYLE[report.outcome]
    console.print(f"Verdict: [{style}]{report.outcome}[/] (exit code {report.outcome.exit_code}): {report.reason}")
