"""Pair the production and shadow records of the same request, and count how their answers compare.

SageMaker sends the shadow a copy of ``sampling_percentage`` percent of production's requests, so the
shadow's capture is the smaller side: it is read first into an index of its answers (never its
requests), then production's capture is streamed against it. Memory is bounded by that one index.

A production record is paired with a shadow record

1. by ``inferenceId`` when the caller passed one (SageMaker copies it to the shadow's request); or
2. otherwise by the identical request body (same encoding, same bytes), among shadow records without
   an ``inferenceId``; a body seen several times pairs with the one nearest in time.

Several shadow records with one ``inferenceId`` (a caller reusing ids) are paired nearest in time as
well, and counted. Each shadow record pairs at most once. A production record without a shadow twin
(not sampled) is counted as unpaired, as is a shadow record left over at the end.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shadow_test_core.capture.answers import (
    AnswerError,
    OutputPath,
    answers_agree,
    compile_output_path,
    extract_answer,
    format_answer,
)
from shadow_test_core.capture.records import CapturedPayload, CaptureFormatError, CaptureRecord

__all__ = ["CompareOptions", "Disagreement", "PairingSummary", "ShadowIndex", "answer_of", "compare_variants"]

# An index entry: (inference time, extracted answer). A bare tuple, not an object: the index holds
# one per shadow record, and a tuple is the smallest container Python has.
_Entry = tuple[float, Any]
_NO_LABEL = object()
_SHARED_ANSWER_LENGTH = 64


@dataclass(frozen=True, kw_only=True)
class CompareOptions:
    """How answers are compared.

    :param output_path: JMESPath expression selecting the part of JSON answers to compare.
        Default: the whole answer.
    :param tolerance: largest absolute difference between two numeric answers that still agree.
        Default: 0 (numbers must be equal).
    :param examples: how many disagreements to keep for the report. Default: 5.
    """

    output_path: str | None = None
    tolerance: float = 0.0
    examples: int = 5

    def __post_init__(self) -> None:
        if self.tolerance < 0:
            raise ValueError(f"tolerance must not be negative (got {self.tolerance})")
        if self.examples < 0:
            raise ValueError(f"examples must not be negative (got {self.examples})")


@dataclass(frozen=True, kw_only=True)
class Disagreement:
    """A pair whose answers differ, for the report."""

    inference_id: str | None
    event_id: str
    inference_time: float
    production_answer: str
    shadow_answer: str
    source: str
    line: int


@dataclass(frozen=True, kw_only=True)
class PairingSummary:
    """Counts of one comparison; the statistics in ``agreement`` are computed from them.

    ``both_right``, ``production_only_right``, ``shadow_only_right`` and ``both_wrong`` count the
    labelled pairs (those whose ``inferenceId`` has a ground-truth label).
    """

    production_records: int
    shadow_records: int
    pairs: int
    paired_by_inference_id: int
    paired_by_body: int
    agreements: int
    unpaired_production: int
    unpaired_shadow: int
    duplicate_inference_ids: int
    missing_answers: int
    labelled_pairs: int = 0
    both_right: int = 0
    production_only_right: int = 0
    shadow_only_right: int = 0
    both_wrong: int = 0
    labels_unmatched: int = 0
    disagreements: tuple[Disagreement, ...] = ()


def _answer(record: CaptureRecord, output_path: OutputPath | None) -> Any:
    try:
        return extract_answer(record.response, output_path)
    except AnswerError as error:
        raise CaptureFormatError(
            source=record.source,
            line=record.line,
            field=f"captureData.endpointOutput.{error.field}",
            problem=error.problem,
        ) from None


def answer_of(record: CaptureRecord, options: CompareOptions) -> Any:
    """The answer ``compare_variants`` compares for one record.

    :raises CaptureFormatError: if the response cannot be read in its encoding.
    """
    return _answer(record, compile_output_path(options.output_path))


def _body_key(request: CapturedPayload) -> bytes:
    # A 16-byte digest instead of the body: index entries stay small whatever the request's size.
    digest = hashlib.blake2b(request.encoding.encode(), digest_size=16)
    digest.update(b"\0")
    digest.update(request.data.encode("utf-8", "surrogatepass"))
    return digest.digest()


def _add(table: dict[Any, Any], key: Any, entry: _Entry) -> bool:
    """Add an entry; returns whether the key was already there."""
    found = table.get(key)
    if found is None:
        table[key] = entry
        return False
    # One entry is stored bare; a list is made only for a key seen twice, which is rare.
    if type(found) is list:
        found.append(entry)
    else:
        table[key] = [found, entry]
    return True


def _take_nearest(table: dict[Any, Any], key: Any, moment: float) -> _Entry | None:
    found = table.get(key)
    if found is None:
        return None
    if type(found) is not list:
        del table[key]
        return found  # type: ignore[no-any-return]
    nearest = min(range(len(found)), key=lambda i: abs(found[i][0] - moment))
    entry: _Entry = found.pop(nearest)
    if not found:
        del table[key]
    return entry


class ShadowIndex:
    """The shadow's answers, by ``inferenceId`` and by request body, awaiting their production twin."""

    def __init__(self, output_path: OutputPath | None = None) -> None:
        self._output_path = output_path
        self._by_id: dict[str, Any] = {}
        self._by_body: dict[bytes, Any] = {}
        #: Records added, records not yet taken, records that repeated an inferenceId already indexed.
        self.records = 0
        self.remaining = 0
        self.duplicate_inference_ids = 0

    def add(self, record: CaptureRecord) -> None:
        """Index one shadow record (its answer is extracted, and checked, now)."""
        answer = _answer(record, self._output_path)
        if type(answer) is str and len(answer) <= _SHARED_ANSWER_LENGTH:
            # Class labels repeat: one shared copy each instead of one per record.
            answer = sys.intern(answer)
        entry = (record.inference_time, answer)
        self.records += 1
        self.remaining += 1
        if record.inference_id is not None:
            self.duplicate_inference_ids += _add(self._by_id, record.inference_id, entry)
        else:
            _add(self._by_body, _body_key(record.request), entry)

    def take(self, record: CaptureRecord) -> tuple[Any, bool] | None:
        """The shadow answer paired with a production record, and whether by ``inferenceId``.

        The shadow record is removed: it pairs once. ``None`` when it has no twin.
        """
        if record.inference_id is not None:
            entry = _take_nearest(self._by_id, record.inference_id, record.inference_time)
            by_id = True
        else:
            entry = _take_nearest(self._by_body, _body_key(record.request), record.inference_time)
            by_id = False
        if entry is None:
            return None
        self.remaining -= 1
        return entry[1], by_id


def compare_variants(
    production: Iterable[CaptureRecord],
    shadow: Iterable[CaptureRecord],
    *,
    options: CompareOptions | None = None,
    labels: Mapping[str, Any] | None = None,
) -> PairingSummary:
    """Read the shadow's records into an index, stream production's against it, and count.

    :param labels: ground truth by ``inferenceId``; pairs whose id has a label are scored.
    :raises CaptureFormatError: on a malformed record, or an answer not readable in its encoding.
    :raises ValueError: if ``options.output_path`` is not valid JMESPath.
    """
    options = options or CompareOptions()
    output_path = compile_output_path(options.output_path)
    index = ShadowIndex(output_path)
    for record in shadow:
        index.add(record)

    counts = dict.fromkeys(
        ("production", "pairs", "by_id", "agree", "missing", "labelled", "both", "prod_only", "shadow_only", "none"), 0
    )
    labels_used: set[str] = set()
    disagreements: list[Disagreement] = []
    tolerance = options.tolerance
    for record in production:
        counts["production"] += 1
        match = index.take(record)
        if match is None:
            continue
        shadow_answer, by_id = match
        production_answer = _answer(record, output_path)
        counts["pairs"] += 1
        counts["by_id"] += by_id
        counts["missing"] += production_answer is None or shadow_answer is None
        if answers_agree(production_answer, shadow_answer, tolerance):
            counts["agree"] += 1
        elif len(disagreements) < options.examples:
            disagreements.append(
                Disagreement(
                    inference_id=record.inference_id,
                    event_id=record.event_id,
                    inference_time=record.inference_time,
                    production_answer=format_answer(production_answer),
                    shadow_answer=format_answer(shadow_answer),
                    source=record.source,
                    line=record.line,
                )
            )
        if labels is None or record.inference_id is None:
            continue
        label = labels.get(record.inference_id, _NO_LABEL)
        if label is _NO_LABEL:
            continue
        labels_used.add(record.inference_id)
        production_right = answers_agree(production_answer, label, tolerance)
        shadow_right = answers_agree(shadow_answer, label, tolerance)
        counts["labelled"] += 1
        cell = (
            ("both" if shadow_right else "prod_only")
            if production_right
            else ("shadow_only" if shadow_right else "none")
        )
        counts[cell] += 1

    return PairingSummary(
        production_records=counts["production"],
        shadow_records=index.records,
        pairs=counts["pairs"],
        paired_by_inference_id=counts["by_id"],
        paired_by_body=counts["pairs"] - counts["by_id"],
        agreements=counts["agree"],
        unpaired_production=counts["production"] - counts["pairs"],
        unpaired_shadow=index.remaining,
        duplicate_inference_ids=index.duplicate_inference_ids,
        missing_answers=counts["missing"],
        labelled_pairs=counts["labelled"],
        both_right=counts["both"],
        production_only_right=counts["prod_only"],
        shadow_only_right=counts["shadow_only"],
        both_wrong=counts["none"],
        labels_unmatched=0 if labels is None else len(labels) - len(labels_used),
        disagreements=tuple(disagreements),
    )
