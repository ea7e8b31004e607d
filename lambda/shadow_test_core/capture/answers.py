"""What a model answered, taken out of a captured response, and whether two answers agree.

- ``CSV`` answers are text (without the trailing newline models add).
- ``JSON`` answers are parsed; an optional JMESPath expression (``predictions[0].label``) picks the
  part to compare. An expression that matches nothing gives ``None``.
- ``BASE64`` answers are the decoded bytes.

Two answers agree when they are equal, except that numbers compare as numbers (``1``, ``1.0`` and
``"1"`` are the same answer) within an absolute tolerance, also field by field in a CSV row of
numbers and element by element in JSON lists and objects. Ground-truth labels are compared with a
model's answer by the same rule.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import jmespath

from shadow_test_core.capture.records import CapturedPayload

__all__ = [
    "AnswerError",
    "OutputPath",
    "answers_agree",
    "compile_output_path",
    "extract_answer",
    "format_answer",
    "output_path_steps",
]


class AnswerError(ValueError):
    """A response whose ``data`` cannot be read in its ``encoding``; ``field`` names the part."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


class OutputPath(Protocol):
    """A compiled JMESPath expression (``jmespath.compile``)."""

    def search(self, value: Any) -> Any:
        """The part of ``value`` the expression selects."""


class _FieldsAndIndexes:
    """A JMESPath expression made only of fields and indexes (``predictions[0].label``), walked directly.

    jmespath's tree interpreter costs several microseconds a search; these paths are what
    ``--output-path`` almost always is, and walking them is ten times faster, with the same result.
    """

    def __init__(self, steps: list[str | int]) -> None:
        self._steps = steps

    def search(self, value: Any) -> Any:
        """Like jmespath: a field of a non-object, or an index of a non-list or out of range, is ``None``."""
        for step in self._steps:
            if type(step) is str:
                value = value.get(step) if type(value) is dict else None
            elif type(value) is list and -len(value) <= step < len(value):  # type: ignore[operator]
                value = value[step]  # type: ignore[index]
            else:
                return None
            if value is None:
                return None
        return value


def _steps(node: dict[str, Any]) -> list[str | int] | None:
    kind, children = node["type"], node.get("children", [])
    if kind == "field":
        return [node["value"]]
    if kind == "identity":
        return []
    if kind == "subexpression":
        left, right = _steps(children[0]), _steps(children[1])
        return None if left is None or right is None else left + right
    if kind == "index_expression" and all(child["type"] == "index" for child in children[1:]):
        left = _steps(children[0])
        return None if left is None else left + [child["value"] for child in children[1:]]
    return None


def output_path_steps(expression: str) -> list[str | int] | None:
    """The fields and indexes of a JMESPath expression made only of them, else ``None``.

    :raises ValueError: (jmespath's ``ParseError``) if the expression is not valid JMESPath.
    """
    return _steps(jmespath.compile(expression).parsed)


def compile_output_path(expression: str | None) -> OutputPath | None:
    """Compile ``--output-path``; ``None`` compares whole answers.

    :raises ValueError: (jmespath's ``ParseError``) if the expression is not valid JMESPath.
    """
    if expression is None:
        return None
    compiled = jmespath.compile(expression)
    steps = _steps(compiled.parsed)
    return compiled if steps is None else _FieldsAndIndexes(steps)


def extract_answer(payload: CapturedPayload, output_path: OutputPath | None = None) -> Any:
    """The comparable answer in a captured response.

    ``output_path`` applies to JSON answers only: a CSV or BASE64 answer has no structure to select from.
    :raises AnswerError: if ``data`` is not valid JSON (for ``JSON``) or base64 (for ``BASE64``).
    """
    if payload.encoding == "JSON":
        try:
            value = json.loads(payload.data)
        except ValueError as error:
            raise AnswerError("data", f"encoding is JSON but data is not valid JSON: {error}") from None
        return value if output_path is None else output_path.search(value)
    if payload.encoding == "BASE64":
        try:
            return base64.b64decode(payload.data, validate=True)
        except (binascii.Error, ValueError) as error:
            raise AnswerError("data", f"encoding is BASE64 but data is not valid base64: {error}") from None
    return payload.data.strip()


# What a text that float() accepts can start with; other texts skip the costly failed float().
_NUMBER_START = frozenset("0123456789+-. \t\niInN")


def _number(value: Any) -> float | None:
    # bool is an int subclass, but true/false are labels, not numbers.
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value[:1] in _NUMBER_START:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _csv_numbers(text: str) -> list[float] | None:
    if "," not in text and "\n" not in text:
        return None
    numbers = []
    for field in text.replace("\n", ",").split(","):
        number = _number(field.strip())
        if number is None:
            return None
        numbers.append(number)
    return numbers


def _numbers_agree(first: float, second: float, tolerance: float) -> bool:
    if first == second:
        return True
    if math.isnan(first) or math.isnan(second):
        return math.isnan(first) and math.isnan(second)
    return abs(first - second) <= tolerance


def answers_agree(first: Any, second: Any, tolerance: float = 0.0) -> bool:
    """Whether two answers (or an answer and a label) are the same, numbers within ``tolerance``."""
    if type(first) is str and type(second) is str and first == second:
        return True  # the common case, decided without parsing numbers
    first_number, second_number = _number(first), _number(second)
    if first_number is not None and second_number is not None:
        return _numbers_agree(first_number, second_number, tolerance)
    if isinstance(first, str) and isinstance(second, str):
        if first == second:
            return True
        first_row, second_row = _csv_numbers(first), _csv_numbers(second)
        if first_row is None or second_row is None or len(first_row) != len(second_row):
            return False
        return all(_numbers_agree(a, b, tolerance) for a, b in zip(first_row, second_row, strict=True))
    if isinstance(first, Sequence) and isinstance(second, Sequence) and not isinstance(first, (str, bytes)):
        if isinstance(second, (str, bytes)) or len(first) != len(second):
            return False
        return all(answers_agree(a, b, tolerance) for a, b in zip(first, second, strict=True))
    if isinstance(first, Mapping) and isinstance(second, Mapping):
        return first.keys() == second.keys() and all(answers_agree(first[k], second[k], tolerance) for k in first)
    if isinstance(first, bool) != isinstance(second, bool):
        return False  # True == 1 in Python, but a yes/no answer is not the number 1
    return bool(first == second)


def format_answer(answer: Any, limit: int = 80) -> str:
    """A one-line rendering of an answer for the list of disagreements."""
    if isinstance(answer, bytes):
        text = f"<{len(answer)} bytes: {answer[:24].hex()}{'...' if len(answer) > 24 else ''}>"
    elif isinstance(answer, str):
        text = answer
    else:
        text = json.dumps(answer, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."
