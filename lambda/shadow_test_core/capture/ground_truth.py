"""Ground-truth labels by ``inferenceId``, from a CSV or a JSON Lines file.

- CSV with the header ``inference_id,label`` (further columns are ignored); labels are text.
- JSON Lines, one ``{"inference_id": ..., "label": ...}`` per line; labels keep their JSON type.

The format is told by the file's first non-blank character (``{`` means JSON Lines). An id labelled
twice with different labels is an error: which label is right cannot be guessed.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from shadow_test_core.capture.answers import answers_agree

__all__ = ["GroundTruthError", "read_labels"]


class GroundTruthError(ValueError):
    """A ground-truth file that cannot be read; names the file, the line and the field."""

    def __init__(self, *, source: str, line: int, field: str, problem: str) -> None:
        super().__init__(f"{source}, line {line}: {field}: {problem}")
        self.source = source
        self.line = line
        self.field = field


def _store(labels: dict[str, Any], inference_id: str, label: Any, fail: Any) -> None:
    if inference_id in labels and not answers_agree(labels[inference_id], label):
        fail("label", f"inference_id {inference_id!r} is labelled twice: {labels[inference_id]!r} and {label!r}")
    labels[inference_id] = label


def _read_json_lines(path: Path, text: str) -> dict[str, Any]:
    labels: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue

        def fail(field: str, problem: str, number: int = number) -> Any:
            raise GroundTruthError(source=str(path), line=number, field=field, problem=problem)

        try:
            document = json.loads(line)
        except ValueError as error:
            fail("(line)", f"not a JSON object: {error}")
        if not isinstance(document, dict):
            fail("(line)", f"expected a JSON object, got {type(document).__name__}")
        for key in ("inference_id", "label"):
            if key not in document:
                fail(key, "missing")
        inference_id = document["inference_id"]
        if not isinstance(inference_id, str) or not inference_id:
            fail("inference_id", f"expected a non-empty string, got {inference_id!r}")
        _store(labels, inference_id, document["label"], fail)
    return labels


def _read_csv(path: Path, text: str) -> dict[str, Any]:
    labels: dict[str, Any] = {}
    reader = csv.reader(text.splitlines())
    header = next(reader, None)

    def fail_at(line: int) -> Any:
        def fail(field: str, problem: str) -> Any:
            raise GroundTruthError(source=str(path), line=line, field=field, problem=problem)

        return fail

    columns = [name.strip() for name in header or ()]
    if "inference_id" not in columns or "label" not in columns:
        fail_at(1)("(header)", f"expected the columns inference_id,label; got {','.join(columns) or 'nothing'}")
    id_column, label_column = columns.index("inference_id"), columns.index("label")
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        fail = fail_at(line)
        if len(row) != len(columns):
            fail("(row)", f"expected {len(columns)} columns, got {len(row)}")
        inference_id = row[id_column].strip()
        if not inference_id:
            fail("inference_id", "empty")
        # Labels repeat (a few classes): one shared copy of each.
        _store(labels, inference_id, sys.intern(row[label_column].strip()), fail)
    return labels


def read_labels(path: Path) -> dict[str, Any]:
    """The labels of a ground-truth file, by ``inference_id``.

    :raises GroundTruthError: on a malformed file, naming the line and field.
    :raises OSError: if the file cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise GroundTruthError(source=str(path), line=1, field="(file)", problem=f"not UTF-8 text: {error}") from None
    if text.lstrip().startswith("{"):
        return _read_json_lines(path, text)
    return _read_csv(path, text)
