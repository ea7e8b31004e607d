"""``shadow-test compare`` on one million pairs read from local files in SageMaker's capture layout.

Generates, in a temporary directory, both variants' capture of a JSON classifier
(``{endpoint}/{variant}/yyyy/mm/dd/hh/part-NNNNN.jsonl``, 10,000 records per object, 3 requests a
second): every request is shadowed (sampling 100 %, the largest index), 90 % carry an
``inferenceId`` and a ground-truth label, 10 % have none and pair by request body. Then:

1. times ``shadow-test compare`` in a fresh interpreter (``--output-path predictions[0].label
   --ground-truth labels.csv --json``) with each ``--engine`` asked for (runs interleaved), with the
   child's peak RSS (``ru_maxrss``), and checks that the engines' JSON figures are equal;
2. measures the shadow index alone with ``tracemalloc`` on ``--index-sample`` records: bytes per
   index record (key, entry tuple, answer, dict slot).

Run: ``.venv/bin/python -m benchmarks.compare_bench [--pairs 1000000] [--repeat 2] [--engines duckdb,stream]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

from shadow_test_core.capture.pairing import ShadowIndex
from shadow_test_core.capture.records import parse_records
from shadow_test_core.capture.source import LocalCapture

ENDPOINT = "churn-endpoint"
PER_OBJECT = 10_000
START = datetime(2024, 5, 1, tzinfo=timezone.utc)
_LINE = (
    '{{"captureData":{{"endpointInput":{{"observedContentType":"application/json","mode":"INPUT",'
    '"data":"{request}","encoding":"JSON"}},"endpointOutput":{{"observedContentType":"application/json",'
    '"mode":"OUTPUT","data":"{response}","encoding":"JSON"}}}},"eventMetadata":{{"eventId":"{event}",'
    '{inference}"inferenceTime":"{time}"}},"eventVersion":"0"}}\n'
)


def _line(request: str, label: str, score: float, moment: str, inference_id: str | None, event: str) -> str:
    response = f'{{\\"predictions\\":[{{\\"label\\":\\"{label}\\",\\"score\\":{score}}}]}}'
    inference = f'"inferenceId":"{inference_id}",' if inference_id else ""
    return _LINE.format(request=request, response=response, event=event, inference=inference, time=moment)


def generate(root: Path, pairs: int, *, seed: int = 1) -> Path:
    """Write both variants' capture and ``labels.csv`` under ``root``; returns the labels file."""
    rng = random.Random(seed)
    streams: dict[str, object] = {}
    labels = (root / "labels.csv").open("w", encoding="utf-8")
    labels.write("inference_id,label\n")
    for i in range(pairs):
        moment = START + timedelta(seconds=i / 3)
        if i % PER_OBJECT == 0:
            for stream in streams.values():
                stream.close()  # type: ignore[attr-defined]
            for variant in ("prod", "shadow"):
                folder = root / ENDPOINT / variant / f"{moment:%Y/%m/%d/%H}"
                folder.mkdir(parents=True, exist_ok=True)
                streams[variant] = (folder / f"part-{i // PER_OBJECT:05d}.jsonl").open("w", encoding="utf-8")
        truth = "churn" if rng.random() < 0.3 else "stay"
        other = "stay" if truth == "churn" else "churn"
        inference_id = f"req-{i:08d}" if i % 10 else None
        request = f'{{\\"customer\\":{i},\\"tenure\\":{rng.randint(1, 72)},\\"plan\\":\\"{rng.choice("abc")}\\"}}'
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        for variant, accuracy in (("prod", 0.90), ("shadow", 0.92)):
            label = truth if rng.random() < accuracy else other
            event = f"{variant[0]}{i:08x}-1b2c-4d3e-8f90-{rng.getrandbits(48):012x}"
            line = _line(request, label, round(rng.uniform(0.5, 1), 3), stamp, inference_id, event)
            streams[variant].write(line)  # type: ignore[attr-defined]
        if inference_id:
            labels.write(f"{inference_id},{truth}\n")
    for stream in streams.values():
        stream.close()  # type: ignore[attr-defined]
    labels.close()
    return root / "labels.csv"


def time_compare(root: Path, labels: Path, engine: str) -> tuple[float, float, float, dict[str, object]]:
    """Wall and CPU seconds and peak RSS (MiB) of ``shadow-test compare`` in a fresh interpreter, and its figures."""
    figures = root / "figures.json"
    command = [
        sys.executable, "-m", "constructs_pkg.cli.main", "compare", "bench",
        "--capture", str(root), "--endpoint", ENDPOINT, "--production-variant", "prod", "--shadow-variant", "shadow",
        "--output-path", "predictions[0].label", "--ground-truth", str(labels), "--json", str(figures),
        "--engine", engine,
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1, 2) or not figures.exists():
        raise RuntimeError(f"compare exited {code}: {process.stderr.read() if process.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, json.loads(figures.read_text())


def index_bytes_per_record(root: Path, sample: int) -> float:
    """tracemalloc's count of what the shadow index holds, per record, over the first ``sample`` records."""
    source = LocalCapture(root)
    objects = source.objects(ENDPOINT, "shadow")
    records = parse_records(line for item in objects for line in source.lines(item, lambda _n: None))
    from shadow_test_core.capture.answers import compile_output_path

    index = ShadowIndex(compile_output_path("predictions[0].label"))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for count, record in enumerate(records, start=1):
        index.add(record)
        if count >= sample:
            break
    del record
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / index.records


def main(argv: list[str] | None = None) -> int:
    """Generate, time and measure; prints a Markdown summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--index-sample", type=int, default=200_000)
    parser.add_argument("--engines", default="duckdb,stream", help="comma-separated --engine values")
    args = parser.parse_args(argv)
    engines = args.engines.split(",")
    with tempfile.TemporaryDirectory(prefix="compare-bench-") as directory:
        root = Path(directory)
        started = time.perf_counter()
        labels = generate(root, args.pairs)
        size = sum(p.stat().st_size for p in root.rglob("*.jsonl"))
        print(
            f"generated {args.pairs:,} pairs, {size / 2**20:,.0f} MiB of capture in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        load = os.getloadavg()[0]
        runs = {engine: [] for engine in engines}  # type: dict[str, list[tuple[float, float, float, dict[str, object]]]]
        for _ in range(args.repeat):
            for engine in engines:
                runs[engine].append(time_compare(root, labels, engine))
                wall, cpu, rss, _figures = runs[engine][-1]
                print(f"{engine}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:,.0f} MiB", flush=True)
        per_record = index_bytes_per_record(root, args.index_sample) if "stream" in engines else None
    print(
        f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print("| engine | " + " | ".join(f"run {n}" for n in range(1, args.repeat + 1)) + " |")
    print("|---|" + "---|" * args.repeat)
    for engine, measured in runs.items():
        cells = [f"{wall:.1f} s wall, {cpu:.1f} s CPU, {rss:,.0f} MiB" for wall, cpu, rss, _figures in measured]
        print(f"| {engine} | " + " | ".join(cells) + " |")
    documents = [measured[0][3] for measured in runs.values()]
    figures = documents[0]
    print(f"same JSON from every engine: {all(document == figures for document in documents)}")
    print(
        f"pairs {figures['pairs']:,} (by id {figures['paired_by_inference_id']:,}, by body {figures['paired_by_body']:,}), "
        f"agreement {figures['agreement']:.4f}, production accuracy {figures['production_accuracy']:.4f}, "
        f"shadow accuracy {figures['shadow_accuracy']:.4f}, outcome {figures['outcome']}"
    )
    if per_record is not None:
        print(f"shadow index: {per_record:,.0f} bytes per record (tracemalloc, first {args.index_sample:,} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
