"""``shadow-test judge FILE``: the verdict from saved per-period data, its exit codes and its errors."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from constructs_pkg.cli import main as cli
from shadow_test_core.verdict.looks import Look
from shadow_test_core.verdict.period_data import write_period_data
from tests.test_verdict import simulated

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("ratio", "periods", "code", "verdict"),
    [(1.0, 48, 0, "promote"), (1.5, 48, 1, "hold"), (1.0, 8, 2, "not enough data")],
    ids=["equal", "slower", "short"],
)
def test_judge_exit_codes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ratio: float, periods: int, code: int, verdict: str
) -> None:
    path = tmp_path / "periods.json"
    write_period_data(simulated(periods, ratio=ratio), path)
    exit_code, out, err = _run(capsys, "judge", str(path))
    assert (exit_code, err) == (code, "")
    assert f"Verdict: {verdict} (exit code {code})" in out
    assert f"Data: {periods} periods of 5 min" in out


def test_judge_flags_change_the_margins(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "periods.json"
    write_period_data(simulated(48, ratio=1.5), path)
    code, out, _err = _run(capsys, "judge", str(path), "--latency-ratio", "1.8", "--confidence", "0.99")
    assert code == 0 and "99% intervals" in out and "<= x1.80" in out


def test_judge_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the png extra (the lowest-versions run installs none)")
    path, chart = tmp_path / "periods.json", tmp_path / "judged.png"
    write_period_data(simulated(48, ratio=1.1), path)
    code, out, _err = _run(capsys, "judge", str(path), "--png", str(chart))
    assert code == 0 and f"Wrote {chart}" in out
    assert chart.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda doc: doc["periods"][4]["shadow"].pop("errors_5xx"), "periods[4].shadow.errors_5xx: missing"),
        (
            lambda doc: doc["periods"][2]["production"].update(latency_p99_us="slow"),
            "periods[2].production.latency_p99_us: must be a positive number",
        ),
        (lambda doc: doc.update(period_seconds=0), "period_seconds: must be a whole number of seconds > 0"),
    ],
)
def test_judge_malformed_file_names_the_period_and_field_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, edit: Any, message: str
) -> None:
    path = tmp_path / "periods.json"
    write_period_data(simulated(6), path)
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    code, out, err = _run(capsys, "judge", str(path))
    assert code == 3 and out == ""
    assert err.startswith("shadow-test: error: ") and message in err and str(path) in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("content", "message"), [(None, "cannot read"), ("{", "not JSON")])
def test_judge_unreadable_file_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "periods.json"
    if content is not None:
        path.write_text(content)
    code, _out, err = _run(capsys, "judge", str(path))
    assert code == 3 and message in err and "Traceback" not in err


def test_judge_rejects_impossible_margins(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "periods.json"
    write_period_data(simulated(6), path)
    code, _out, err = _run(capsys, "judge", str(path), "--latency-ratio", "-1")
    assert code == 3 and "latency ratio margin must be > 0" in err


def test_judge_prints_markup_like_names_as_they_are(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "periods.json"
    write_period_data(simulated(6), path)
    document = json.loads(path.read_text())
    document["experiment"] = "churn[/bold]-shadow"
    path.write_text(json.dumps(document))
    code, out, _err = _run(capsys, "judge", str(path))
    assert code == 2 and "Shadow test churn[/bold]-shadow from" in out


def _distribution_with_png_extra() -> str:
    """The package's name in pyproject.toml, which must declare a ``png`` extra (read without tomllib: 3.10)."""
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert re.search(r"^png = \[", pyproject, re.MULTILINE), "pyproject.toml declares no png extra"
    name = re.search(r'^name = "([^"]+)"', pyproject, re.MULTILINE)
    assert name is not None
    return name.group(1)


def test_judge_piped_output_keeps_every_column_title_and_row_whole(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CI log: stdout is not a terminal and no COLUMNS tells rich a width.
    monkeypatch.delenv("COLUMNS", raising=False)
    path = tmp_path / "periods.json"
    write_period_data(simulated(48, ratio=1.1), path)
    code, out, _err = _run(capsys, "judge", str(path))
    assert code == 0 and "…" not in out
    lines = out.splitlines()
    assert any(
        line.startswith("Data: 48 periods of 5 min from ") and "(no traffic in a variant)" in line for line in lines
    )
    for title in ("Model latency p99 (shadow/production)", "5XX error rate (shadow - production)"):
        row = next(line for line in lines if title in line)
        assert " to " in row and "<= " in row and "pass" in row  # estimate, interval, margin and result alike


def test_judge_on_a_terminal_fits_the_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    path = tmp_path / "periods.json"
    write_period_data(simulated(48, ratio=1.1), path)
    code, out, _err = _run(capsys, "judge", str(path))
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)  # a terminal gets colours
    assert code == 0 and "Model latency p99 (shadow/production)" not in plain
    assert max(len(line) for line in plain.splitlines()) <= 60


def test_judge_png_without_matplotlib_names_the_png_extra(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    distribution = _distribution_with_png_extra()
    path, chart = tmp_path / "periods.json", tmp_path / "judged.png"
    write_period_data(simulated(48), path)
    code, out, err = _run(capsys, "judge", str(path), "--png", str(chart))
    assert (code, out) == (3, "")
    assert f"pip install '{distribution}[png]'" in err
    assert not chart.exists()


def test_judge_a_file_saved_at_a_look_re_derives_that_looks_decision(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Held by one fixed-horizon look, not by the 2nd of a week of hourly looks.
    data = simulated(18, ratio=1.3, noise=0.08)
    path = tmp_path / "periods.json"
    write_period_data(data, path)
    code, out, _err = _run(capsys, "judge", str(path))
    assert code == 1 and "Checks: 95% intervals, each" in out
    write_period_data(dataclasses.replace(data, look=Look(number=2, planned=168)), path)
    code, out, _err = _run(capsys, "judge", str(path))
    assert code == 2 and "Verdict: not enough data (exit code 2)" in out
    assert "(look 2 of 168: 95% spent over them)" in out
    assert "99.95% interval" in out
