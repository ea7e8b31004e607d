"""Capture records in SageMaker's documented JSON Lines format, written in its S3 layout.

``{Destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/<file>.jsonl``, one record per line, as the
shadow-test example notebook downloads them.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Exchange:
    """One request and what a variant answered, before it is written as a capture record."""

    request: str
    response: str
    at: datetime = START
    inference_id: str | None = None
    encoding: str = "CSV"
    response_encoding: str | None = None
    event_id: str | None = None


_CONTENT_TYPES = {"CSV": "text/csv", "JSON": "application/json", "BASE64": "application/octet-stream"}


def record(exchange: Exchange) -> dict[str, Any]:
    """The capture record of one exchange, exactly in SageMaker's shape."""
    output_encoding = exchange.response_encoding or exchange.encoding
    metadata: dict[str, Any] = {
        "eventId": exchange.event_id or str(uuid.uuid4()),
        "inferenceTime": exchange.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if exchange.inference_id is not None:
        metadata["inferenceId"] = exchange.inference_id
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": _CONTENT_TYPES[exchange.encoding],
                "mode": "INPUT",
                "data": exchange.request,
                "encoding": exchange.encoding,
            },
            "endpointOutput": {
                "observedContentType": _CONTENT_TYPES[output_encoding],
                "mode": "OUTPUT",
                "data": exchange.response,
                "encoding": output_encoding,
            },
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def object_key(endpoint: str, variant: str, at: datetime, name: str = "capture") -> str:
    """The key SageMaker gives an object: endpoint/variant/yyyy/mm/dd/hh/name.jsonl."""
    return f"{endpoint}/{variant}/{at:%Y/%m/%d/%H}/{name}.jsonl"


def write_variant(
    root: Path, endpoint: str, variant: str, exchanges: Iterable[Exchange], *, per_file: int = 1000
) -> list[Path]:
    """Write a variant's records under ``root`` in hourly folders, ``per_file`` lines per file."""
    files: dict[Path, list[str]] = {}
    counts: dict[str, int] = {}
    for exchange in exchanges:
        hour = f"{exchange.at:%Y/%m/%d/%H}"
        index = counts.get(hour, 0)
        counts[hour] = index + 1
        path = root / object_key(endpoint, variant, exchange.at, f"part-{index // per_file:05d}")
        files.setdefault(path, []).append(json.dumps(record(exchange)))
    for path, lines in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sorted(files)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Scenario:
    """Both variants' exchanges of a classifier and the requests' true labels."""

    production: list[Exchange]
    shadow: list[Exchange]
    labels: dict[str, str]


def classifier_scenario(
    requests: int, *, sampling: float, production_accuracy: float, shadow_accuracy: float, seed: int = 7
) -> Scenario:
    """A churn classifier answering JSON: each request has an id, the shadow sees ``sampling`` of them."""
    import random

    rng = random.Random(seed)
    production: list[Exchange] = []
    shadow: list[Exchange] = []
    labels: dict[str, str] = {}
    for i in range(requests):
        inference_id = f"req-{i:06d}"
        truth = rng.choice(["churn", "stay"])
        wrong = "stay" if truth == "churn" else "churn"
        request = json.dumps({"customer": i, "tenure": rng.randint(1, 72)})
        moment = at(i * 3.0)
        answer = truth if rng.random() < production_accuracy else wrong
        production.append(_classified(request, answer, moment, inference_id, rng))
        if rng.random() < sampling:
            answer = truth if rng.random() < shadow_accuracy else wrong
            shadow.append(_classified(request, answer, at(i * 3.0 + 0.05), inference_id, rng))
        labels[inference_id] = truth
    return Scenario(production=production, shadow=shadow, labels=labels)


def _classified(request: str, label: str, moment: datetime, inference_id: str, rng: Any) -> Exchange:
    response = json.dumps({"predictions": [{"label": label, "score": round(rng.uniform(0.5, 1.0), 3)}]})
    return Exchange(request=request, response=response, at=moment, inference_id=inference_id, encoding="JSON")


def write_labels(path: Path, labels: dict[str, str]) -> Path:
    """A ground-truth CSV with the header inference_id,label."""
    path.write_text("inference_id,label\n" + "".join(f"{k},{v}\n" for k, v in labels.items()), encoding="utf-8")
    return path
