"""``shadow-test``: report on, judge, inspect, promote or stop a SageMaker shadow test.

Exit codes:

- ``report`` and ``judge``: 0 promote, 1 hold, 2 not enough data.
- ``status``: 0.
- ``compare``: 0 promote (or report only), 1 hold, 2 not enough data (see ``compare.py``).
- ``promote`` / ``stop``: 0 done (or requested, with ``--no-wait``); 1 not
  done (declined at the prompt, or still not Completed/Cancelled when the
  wait timed out); 2 refused: no ``--yes`` and no terminal to confirm on.
- Every command: 3 on an error (bad arguments, experiment not found, AWS
  error, experiment already stopped, malformed saved data, matplotlib
  missing for ``--png``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NoReturn, TextIO

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape

from shadow_test_core.experiment import settings
from shadow_test_core.verdict.judge import Margins, Report, judge
from shadow_test_core.verdict.looks import judge_look
from shadow_test_core.verdict.period_data import PeriodData, load_period_data, write_period_data
from shadow_test_core.verdict.window import parse_duration, period_window, report_window

from . import athena, aws, chart, compare, engine, render

#: The margins' documented defaults, shown and used by the flags of ``report`` and ``judge``.
_DEFAULTS = Margins()
#: Default ``--period``. Five minutes, not one: a p99 of one minute of shadow traffic rests on a
#: few requests (the 99th percentile of 300 is the third slowest), neighbouring minutes are more
#: alike than the interval assumes, and CloudWatch keeps 1-minute data 15 days but 5-minute data
#: 63, so a finished experiment can still be judged weeks later. A day still gives 288 periods.
_DEFAULT_PERIOD = "5m"

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


def _period(text: str) -> int:
    seconds = _positive_duration(text)
    if seconds % 60:
        raise argparse.ArgumentTypeError(f"period must be a whole number of minutes: {text!r}")
    return int(seconds)


def _verdict_options() -> _Parser:
    """The margins, confidence and chart shared by ``report`` and ``judge``."""
    options = _Parser(add_help=False)
    options.add_argument(
        "--latency-ratio",
        type=float,
        default=_DEFAULTS.latency_ratio,
        metavar="RATIO",
        help=f"largest acceptable shadow/production p99 latency ratio (default: {_DEFAULTS.latency_ratio:g})",
    )
    options.add_argument(
        "--error-delta",
        type=float,
        default=_DEFAULTS.error_delta,
        metavar="PP",
        help="largest acceptable shadow minus production 5XX error rate, in percentage points "
        f"(default: {_DEFAULTS.error_delta:g})",
    )
    options.add_argument(
        "--confidence",
        type=float,
        default=_DEFAULTS.confidence,
        metavar="LEVEL",
        help=f"two-sided confidence of the intervals (default: {_DEFAULTS.confidence:g})",
    )
    options.add_argument(
        "--min-periods",
        type=int,
        default=_DEFAULTS.min_periods,
        metavar="N",
        help=f"fewest periods with traffic in both variants before a check decides (default: {_DEFAULTS.min_periods})",
    )
    options.add_argument(
        "--png",
        type=Path,
        metavar="FILE",
        help="also write a chart of the per-period comparisons (needs the png extra: matplotlib)",
    )
    return options


def _build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("name", metavar="NAME", help="name of the inference experiment")
    common.add_argument("--region", help="AWS region (default: from the environment or profile)")

    parser = _Parser(
        prog="shadow-test",
        description="Report on, judge, inspect, promote or stop an Amazon SageMaker shadow test (inference experiment).",
        epilog="Exit codes: report, judge 0 promote / 1 hold / 2 not enough data; "
        "promote, stop 0 done / 1 not done / 2 refused without --yes; 3 error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    verdict = _verdict_options()
    report = commands.add_parser(
        "report", parents=[common, verdict], help="judge the shadow against production from CloudWatch data"
    )
    report.add_argument(
        "--since",
        type=_positive_duration,
        default=_duration("24h"),
        metavar="DURATION",
        help="how far back to look, e.g. 90m, 24h, 7d (default: 24h)",
    )
    report.add_argument(
        "--period",
        type=_period,
        default=_period(_DEFAULT_PERIOD),
        metavar="DURATION",
        help=f"length of each compared period, a multiple of 1m (default: {_DEFAULT_PERIOD})",
    )
    report.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the per-period data judged, for 'shadow-test judge'"
    )

    judge_command = commands.add_parser(
        "judge", parents=[verdict], help="judge saved per-period data (written by report --json)"
    )
    judge_command.add_argument("file", metavar="FILE", type=Path, help="per-period data as JSON")

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
                choices=settings.ENDING_STATES,
                default=settings.DESIRED_COMPLETED,
                help=f"state the experiment ends in (default: {settings.DESIRED_COMPLETED})",
            )
    compare.add_parser(commands, common)
    return parser


#: The width given to rich when the output is not a terminal: a pipe into a CI log or a file has no width to
#: fit, and rich's default of 80 columns would wrap cells and cut column titles with an ellipsis.
_UNCUT_WIDTH = 10_000


def _console(stream: TextIO, *, soft_wrap: bool = False) -> Console:
    """A console on ``stream`` that fits a terminal's width, and on a pipe never wraps or cuts a line."""
    is_terminal = getattr(stream, "isatty", lambda: False)()
    return Console(
        file=stream,
        highlight=False,
        soft_wrap=soft_wrap,
        width=None if is_terminal else _UNCUT_WIDTH,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shadow-test`` console script; returns the exit code."""
    parser = _build_parser()
    console = _console(sys.stdout)
    # Error messages are not wrapped at the terminal width, so they stay whole for grep and logs.
    errors = _console(sys.stderr, soft_wrap=True)
    try:
        args = parser.parse_args(argv)
    except _UsageError as error:
        errors.print(str(error), markup=False)
        return EXIT_ERROR
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else EXIT_OK

    handlers = {
        "report": _report,
        "judge": _judge,
        "status": _status,
        "promote": _end,
        "stop": _end,
        "compare": compare.run,
    }
    try:
        return handlers[args.command](args, console, errors)
    except ClientError as error:
        details = error.response.get("Error", {})
        errors.print(
            f"shadow-test: error: {details.get('Code', 'Error')}: {details.get('Message', error)}", markup=False
        )
    except (
        BotoCoreError,
        ValueError,
        chart.MatplotlibMissing,
        engine.EngineError,
        athena.AthenaQueryFailed,
        OSError,
    ) as error:
        errors.print(f"shadow-test: error: {error}", markup=False)
    return EXIT_ERROR


def _margins(args: argparse.Namespace) -> Margins:
    return Margins(
        latency_ratio=args.latency_ratio,
        error_delta=args.error_delta,
        confidence=args.confidence,
        min_periods=args.min_periods,
    )


def _show_verdict(
    args: argparse.Namespace, console: Console, data: PeriodData, margins: Margins, *, heading: str
) -> Report:
    # A file saved at one of many looks is judged at that look, as it was; otherwise as one look.
    report = judge(data, margins) if data.look is None else judge_look(data, data.look, margins)
    render.print_report(console, report, data, heading=heading)
    if args.png is not None:
        chart.write_chart(args.png, data, report, title=f"Shadow test {data.experiment}")
        console.print(f"Wrote {args.png}")
    return report


def _report(args: argparse.Namespace, console: Console, errors: Console) -> int:
    """Per-period data from CloudWatch, judged; ``--json`` saves exactly that data."""
    margins = _margins(args)  # bad margins fail before any AWS call
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
    heading = render.experiment_heading(experiment)
    if window is None:
        data = PeriodData(experiment=experiment.name, period_seconds=args.period, periods=())
        heading += "\nWindow: the experiment was not scheduled during the requested period"
    else:
        query = period_window(*window, period=args.period, now=now)
        if query.period != args.period:
            heading += f"\nPeriod: {query.period} s, the finest CloudWatch keeps for data this old"
        data = aws.fetch_periods(cloudwatch, experiment, query)

    if args.json is not None:
        write_period_data(data, args.json)
    report = _show_verdict(args, console, data, margins, heading=heading)
    if args.json is not None:
        console.print(f"Wrote {args.json}")
    return report.exit_code


def _judge(args: argparse.Namespace, console: Console, errors: Console) -> int:
    """The verdict from saved per-period data: the same as ``report`` gave from the same data."""
    margins = _margins(args)
    if args.png is not None:
        chart.ensure_matplotlib()
    data = load_period_data(args.file)
    # Saved data is untrusted text: escape it so rich reads no markup in it.
    heading = f"[bold]Shadow test {escape(data.experiment)}[/] from {escape(str(args.file))}"
    return _show_verdict(args, console, data, margins, heading=heading).exit_code


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
    desired_state: str = getattr(args, "desired_state", settings.DESIRED_COMPLETED)
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
