"""``shadow-test``: report on, inspect, promote or stop a SageMaker shadow test.

Exit codes:

- ``report``: 0 promote, 1 hold, 2 not enough data.
- ``status``: 0.
- ``compare``: 0 promote (or report only), 1 hold, 2 not enough data (see ``compare.py``).
- ``promote`` / ``stop``: 0 done (or requested, with ``--no-wait``); 1 not
  done (declined at the prompt, or still not Completed/Cancelled when the
  wait timed out); 2 refused: no ``--yes`` and no terminal to confirm on.
- Every command: 3 on an error (bad arguments, experiment not found, AWS
  error, experiment already stopped, matplotlib missing for ``--png``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal, NoReturn

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from . import aws, chart, compare, render
from .verdict import Thresholds, VariantStats, evaluate
from .window import parse_duration, report_window, series_window, summary_window

#: The thresholds' documented defaults, shown and used by ``report``'s flags.
_DEFAULTS = Thresholds()

__all__ = ["EXIT_ERROR", "EXIT_NOT_DONE", "EXIT_OK", "EXIT_REFUSED", "main"]

EXIT_OK = 0
EXIT_NOT_DONE = 1
EXIT_REFUSED = 2
EXIT_ERROR = 3


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    # argparse exits with 2 on bad arguments, which would read as the
    # report's "not enough data"; raise instead so main() can return 3.
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise _UsageError(f"{self.prog}: error: {message}")


def _duration(text: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _positive_duration(text: str) -> float:
    seconds = _duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive: {text!r}")
    return seconds


def _build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("name", metavar="NAME", help="name of the inference experiment")
    common.add_argument("--region", help="AWS region (default: from the environment or profile)")

    parser = _Parser(
        prog="shadow-test",
        description="Report on, inspect, promote or stop an Amazon SageMaker shadow test (inference experiment).",
        epilog="Exit codes: report 0 promote / 1 hold / 2 not enough data; "
        "promote, stop 0 done / 1 not done / 2 refused without --yes; 3 error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    report = commands.add_parser("report", parents=[common], help="compare shadow with production and give a verdict")
    report.add_argument(
        "--since",
        type=_positive_duration,
        default=_duration("24h"),
        metavar="DURATION",
        help="how far back to look, e.g. 90m, 24h, 7d (default: 24h)",
    )
    report.add_argument("--json", type=Path, metavar="FILE", help="also write the table and verdicts as JSON")
    report.add_argument("--png", type=Path, metavar="FILE", help="also write a latency and error chart (matplotlib)")
    report.add_argument(
        "--latency-ratio",
        type=float,
        default=_DEFAULTS.latency_ratio,
        metavar="RATIO",
        help=f"highest shadow/production p99 latency ratio (default: {_DEFAULTS.latency_ratio:g})",
    )
    report.add_argument(
        "--error-delta",
        type=float,
        default=_DEFAULTS.error_delta,
        metavar="PP",
        help=f"highest shadow minus production 5XX error rate, in percentage points (default: {_DEFAULTS.error_delta:g})",
    )
    report.add_argument(
        "--min-invocations",
        type=int,
        default=_DEFAULTS.min_invocations,
        metavar="N",
        help=f"invocations each variant needs for a verdict (default: {_DEFAULTS.min_invocations})",
    )

    commands.add_parser("status", parents=[common], help="show status, schedule, variants and sampling")

    for name, help_text in (
        ("promote", "end the experiment, promoting the shadow variant and removing production"),
        ("stop", "end the experiment, keeping production and removing the shadow variant"),
    ):
        command = commands.add_parser(name, parents=[common], help=help_text)
        command.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        command.add_argument("--no-wait", action="store_true", help="return once the request is accepted")
        command.add_argument(
            "--poll-interval",
            type=_duration,
            default=_duration("15s"),
            metavar="DURATION",
            help="time between status checks while waiting (default: 15s)",
        )
        command.add_argument(
            "--timeout",
            type=_positive_duration,
            default=_duration("1h"),
            metavar="DURATION",
            help="give up waiting after this long (default: 1h)",
        )
        command.add_argument("--reason", help="reason recorded with the experiment")
        if name == "stop":
            command.add_argument(
                "--desired-state",
                choices=("Completed", "Cancelled"),
                default="Completed",
                help="state the experiment ends in (default: Completed)",
            )
    compare.add_parser(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shadow-test`` console script; returns the exit code."""
    parser = _build_parser()
    console = Console(highlight=False)
    errors = Console(stderr=True, highlight=False)
    try:
        args = parser.parse_args(argv)
    except _UsageError as error:
        errors.print(str(error), markup=False)
        return EXIT_ERROR
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else EXIT_OK

    handlers = {"report": _report, "status": _status, "promote": _end, "stop": _end, "compare": compare.run}
    try:
        return handlers[args.command](args, console, errors)
    except ClientError as error:
        details = error.response.get("Error", {})
        errors.print(
            f"shadow-test: error: {details.get('Code', 'Error')}: {details.get('Message', error)}", markup=False
        )
    except (BotoCoreError, ValueError, chart.MatplotlibMissing, OSError) as error:
        errors.print(f"shadow-test: error: {error}", markup=False)
    return EXIT_ERROR


def _report(args: argparse.Namespace, console: Console, errors: Console) -> int:
    thresholds = Thresholds(
        latency_ratio=args.latency_ratio,
        error_delta=args.error_delta,
        min_invocations=args.min_invocations,
    )
    if args.png is not None:
        chart.ensure_matplotlib()
    sagemaker = aws.sagemaker_client(args.region)
    cloudwatch = aws.cloudwatch_client(args.region)
    experiment = aws.describe_experiment(sagemaker, args.name)

    now = datetime.now(timezone.utc)
    ends = [moment for moment in (experiment.schedule_end, experiment.completion_time) if moment is not None]
    window = report_window(
        now=now,
        since=timedelta(seconds=args.since),
        schedule_start=experiment.schedule_start,
        schedule_end=min(ends) if ends else None,
    )
    if window is None:
        production = shadow = VariantStats()
    else:
        production, shadow = aws.fetch_summary(cloudwatch, experiment, summary_window(*window, now=now))
    report = evaluate(production, shadow, thresholds)
    render.print_report(console, experiment, report, window=window)

    if args.json is not None:
        document = render.report_document(experiment, report, thresholds=thresholds, window=window)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        console.print(f"Wrote {args.json}")
    if args.png is not None:
        series = {} if window is None else aws.fetch_series(cloudwatch, experiment, series_window(*window, now=now))
        chart.write_chart(
            args.png,
            series,
            title=f"Shadow test {experiment.name}",
            production_label=f"production ({experiment.production.variant_name})",
            shadow_label=f"shadow ({experiment.shadow.variant_name})",
        )
        console.print(f"Wrote {args.png}")
    return report.exit_code


def _status(args: argparse.Namespace, console: Console, errors: Console) -> int:
    render.print_status(console, aws.describe_experiment(aws.sagemaker_client(args.region), args.name))
    return EXIT_OK


def _confirmed(console: Console) -> bool:
    try:
        answer = console.input("Proceed? [y/N] ", markup=False)
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def _end(args: argparse.Namespace, console: Console, errors: Console) -> int:
    """``promote`` and ``stop``: StopInferenceExperiment, then wait for a terminal status."""
    action = args.command
    desired_state: Literal["Completed", "Cancelled"] = getattr(args, "desired_state", "Completed")
    sagemaker = aws.sagemaker_client(args.region)
    experiment = aws.describe_experiment(sagemaker, args.name)
    if experiment.is_terminal:
        raise ValueError(f"inference experiment {experiment.name} is already {experiment.status}")
    if action == "promote":
        # Fail before the prompt, not after it, if describe lacks what promote sends.
        experiment.shadow.model_variant_config()

    render.print_plan(console, experiment, action, desired_state)
    if not args.yes:
        if sys.stdin is None or not sys.stdin.isatty():
            errors.print(
                f"shadow-test: refusing to {action} {experiment.name} without confirmation: "
                "standard input is not a terminal; pass --yes to proceed",
                markup=False,
            )
            return EXIT_REFUSED
        if not _confirmed(console):
            console.print("Aborted; nothing was changed.")
            return EXIT_NOT_DONE

    aws.stop_experiment(sagemaker, experiment, action=action, desired_state=desired_state, reason=args.reason)
    console.print(f"Requested {action} of {experiment.name}.")
    if args.no_wait:
        return EXIT_OK

    last_status: list[str] = []
    with console.status(f"Waiting for {experiment.name} to stop...") as spinner:

        def on_poll(current: aws.ExperimentInfo, elapsed: float) -> None:
            spinner.update(f"{current.name}: {current.status} ({elapsed:.0f}s)")
            if not last_status or last_status[-1] != current.status:
                last_status.append(current.status)
                console.print(f"[{elapsed:5.0f}s] {current.name}: {current.status}")

        try:
            final = aws.wait_until_stopped(
                sagemaker, experiment.name, poll_interval=args.poll_interval, timeout=args.timeout, on_poll=on_poll
            )
        except aws.WaitTimeout as timeout:
            errors.print(
                f"shadow-test: {timeout}; check later with 'shadow-test status {experiment.name}'", markup=False
            )
            return EXIT_NOT_DONE
    console.print(f"{final.name} is {final.status}" + (f": {final.status_reason}" if final.status_reason else ""))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
