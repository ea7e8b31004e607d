"""Capture records, answers, pairing and ground truth (the core), on records in SageMaker's exact format."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from constructs_pkg.cli.engine import Variants, run_duckdb
from shadow_test_core.capture.answers import answers_agree, format_answer
from shadow_test_core.capture.ground_truth import GroundTruthError, read_labels
from shadow_test_core.capture.pairing import CompareOptions, PairingSummary, compare_variants
from shadow_test_core.capture.records import CaptureFormatError, CaptureRecord, parse_record, parse_records
from shadow_test_core.capture.source import CaptureObject, LocalCapture
from tests.capture_factory import Exchange, at, b64, record

# =====================================================================================
# Records
# =====================================================================================


def _line(exchange: Exchange) -> bytes:
    return json.dumps(record(exchange)).encode()


def _records(exchanges: Iterable[Exchange], source: str = "capture.jsonl") -> list[CaptureRecord]:
    return [parse_record(_line(e), source=source, line_number=n) for n, e in enumerate(exchanges, start=1)]


def test_record_in_the_documented_format_is_parsed() -> None:
    exchange = Exchange(request="1.0,2.0", response="0.73", at=at(3), inference_id="req-1", event_id="ev-1")
    parsed = parse_record(_line(exchange), source="s3://b/k.jsonl", line_number=7)
    assert parsed.event_id == "ev-1"
    assert parsed.inference_id == "req-1"
    assert parsed.inference_time == at(3).timestamp()
    assert (parsed.request.data, parsed.request.encoding, parsed.request.content_type) == ("1.0,2.0", "CSV", "text/csv")
    assert (parsed.response.data, parsed.response.encoding) == ("0.73", "CSV")
    assert (parsed.source, parsed.line) == ("s3://b/k.jsonl", 7)


def test_record_without_inference_id_has_none() -> None:
    assert _records([Exchange(request="x", response="y")])[0].inference_id is None


def test_inference_time_with_fractional_seconds_and_offset_is_read() -> None:
    document = record(Exchange(request="x", response="y"))
    document["eventMetadata"]["inferenceTime"] = "2024-05-01T12:00:00.250+00:00"
    parsed = parse_record(json.dumps(document), source="f", line_number=1)
    assert parsed.inference_time == at(0.25).timestamp()


def _broken(change: Any) -> dict[str, Any]:
    document = record(Exchange(request="x", response="y", inference_id="i"))
    change(document)
    return document


@pytest.mark.parametrize(
    ("document", "field", "problem"),
    [
        (b"{not json", "(line)", "not a JSON object"),
        (b"[1, 2]", "(line)", "expected a JSON object, got list"),
        (_broken(lambda d: d.pop("captureData")), "captureData", "missing"),
        (_broken(lambda d: d["captureData"].pop("endpointOutput")), "captureData.endpointOutput", "missing"),
        (_broken(lambda d: d["captureData"]["endpointInput"].pop("data")), "captureData.endpointInput.data", "missing"),
        (
            _broken(lambda d: d["captureData"]["endpointOutput"].update(data=3)),
            "captureData.endpointOutput.data",
            "string",
        ),
        (
            _broken(lambda d: d["captureData"]["endpointOutput"].update(encoding="XML")),
            "captureData.endpointOutput.encoding",
            "'XML'; allowed BASE64, CSV, JSON",
        ),
        (
            _broken(lambda d: d["captureData"]["endpointOutput"].update(mode="INPUT")),
            "captureData.endpointOutput.mode",
            "expected 'OUTPUT'",
        ),
        (_broken(lambda d: d.pop("eventMetadata")), "eventMetadata", "missing"),
        (_broken(lambda d: d["eventMetadata"].pop("eventId")), "eventMetadata.eventId", "missing"),
        (_broken(lambda d: d["eventMetadata"].update(inferenceId=5)), "eventMetadata.inferenceId", "string"),
        (
            _broken(lambda d: d["eventMetadata"].update(inferenceTime="yesterday")),
            "eventMetadata.inferenceTime",
            "ISO 8601",
        ),
        (_broken(lambda d: d.update(eventVersion="7")), "eventVersion", "supported 0"),
    ],
)
def test_malformed_record_names_file_line_and_field(document: Any, field: str, problem: str) -> None:
    line = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(CaptureFormatError) as caught:
        parse_record(line, source="s3://bucket/ep/shadow/2024/05/01/12/a.jsonl", line_number=42)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"s3://bucket/ep/shadow/2024/05/01/12/a.jsonl, line 42: {field}: ")
    assert problem in str(caught.value)


def test_blank_lines_are_skipped_but_counted() -> None:
    lines = [("f", 1, _line(Exchange(request="a", response="1"))), ("f", 2, b"  "), ("f", 3, b"{")]
    with pytest.raises(CaptureFormatError, match="f, line 3"):
        list(parse_records(lines))


# =====================================================================================
# Answers
# =====================================================================================


@pytest.mark.parametrize(
    ("first", "second", "tolerance", "agree"),
    [
        ("cat", "cat", 0, True),
        ("cat", "dog", 0, False),
        ("1", "1.0", 0, True),
        (1, "1", 0, True),
        (0.5, 0.52, 0.01, False),
        (0.5, 0.505, 0.01, True),
        ("0.1,0.9", "0.1000,0.9", 0, True),
        ("0.1,0.9", "0.12,0.88", 0.05, True),
        ("0.1,0.9", "0.1,0.9,0.0", 0.05, False),
        (True, 1, 0, False),
        ([0.1, {"a": 2}], [0.1, {"a": 2.0}], 0, True),
        ({"a": 1}, {"b": 1}, 0, False),
        (b"\x00\x01", b"\x00\x01", 0, True),
        (None, None, 0, True),
        (float("nan"), float("nan"), 0, True),
    ],
)
def test_answers_agree(first: Any, second: Any, tolerance: float, agree: bool) -> None:
    assert answers_agree(first, second, tolerance) is agree


def test_long_and_binary_answers_are_shortened_for_display() -> None:
    assert format_answer("x" * 100).endswith("...")
    assert format_answer(b"\x01\x02") == "<2 bytes: 0102>"
    assert format_answer({"label": "cat"}) == '{"label":"cat"}'


# =====================================================================================
# Pairing
# =====================================================================================


Pair = Callable[..., PairingSummary]


def _write(path: Path, exchanges: list[Exchange]) -> CaptureObject:
    path.write_text("".join(_line(e).decode() + "\n" for e in exchanges), encoding="utf-8")
    return CaptureObject(name=path.name, key=str(path), size=path.stat().st_size)


@pytest.fixture(params=["stream", "duckdb"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Pair:
    """``compare_variants`` (streaming), or the pairing query on DuckDB over the same records in files."""

    def streaming(production: list[Exchange], shadow: list[Exchange], **options: Any) -> PairingSummary:
        labels = options.pop("labels", None)
        return compare_variants(
            _records(production, "production.jsonl"),
            _records(shadow, "shadow.jsonl"),
            options=CompareOptions(**options),
            labels=labels,
        )

    def embedded(production: list[Exchange], shadow: list[Exchange], **options: Any) -> PairingSummary:
        labels = options.pop("labels", None)
        labels_file = None
        if labels is not None:
            labels_file = tmp_path / "labels.jsonl"
            labels_file.write_text(
                "".join(json.dumps({"inference_id": k, "label": v}) + "\n" for k, v in labels.items())
            )
        variants = Variants(
            production="prod",
            shadow="shadow",
            production_objects=[_write(tmp_path / "production.jsonl", production)],
            shadow_objects=[_write(tmp_path / "shadow.jsonl", shadow)],
        )
        return run_duckdb(
            LocalCapture(tmp_path),
            variants,
            options=CompareOptions(**options),
            labels=labels_file,
            on_bytes=lambda _size: None,
        )

    return streaming if request.param == "stream" else embedded


def test_records_pair_by_inference_id_whatever_their_order(pair: Pair) -> None:
    production = [Exchange(request=f"r{i}", response="1", at=at(i), inference_id=f"id-{i}") for i in range(5)]
    shadow = [Exchange(request=f"r{i}", response="1", at=at(i), inference_id=f"id-{i}") for i in reversed(range(5))]
    summary = pair(production, shadow)
    assert (summary.pairs, summary.paired_by_inference_id, summary.agreements) == (5, 5, 5)


def test_inference_id_wins_over_an_identical_body(pair: Pair) -> None:
    production = [
        Exchange(request="same", response="a", inference_id="p1"),
        Exchange(request="same", response="b", inference_id="p2"),
    ]
    shadow = [Exchange(request="same", response="b", inference_id="p2")]
    summary = pair(production, shadow)
    assert (summary.pairs, summary.agreements, summary.unpaired_production) == (1, 1, 1)


def test_records_without_inference_id_pair_by_body_nearest_in_time(pair: Pair) -> None:
    production = [
        Exchange(request="same", response="early", at=at(0)),
        Exchange(request="same", response="late", at=at(100)),
        Exchange(request="other", response="x", at=at(50)),
    ]
    shadow = [
        Exchange(request="same", response="late", at=at(100.3)),
        Exchange(request="same", response="early", at=at(0.2)),
    ]
    summary = pair(production, shadow)
    assert (summary.pairs, summary.paired_by_body, summary.agreements) == (2, 2, 2)
    assert (summary.unpaired_production, summary.unpaired_shadow) == (1, 0)


def test_bodies_pair_only_within_the_same_encoding(pair: Pair) -> None:
    production = [Exchange(request='{"x": 1}', response="1", encoding="JSON")]
    shadow = [Exchange(request='{"x": 1}', response="1", encoding="CSV")]
    assert pair(production, shadow).pairs == 0


def test_production_without_shadow_twin_is_counted_not_an_error(pair: Pair) -> None:
    production = [Exchange(request=f"r{i}", response="1", inference_id=f"id-{i}") for i in range(10)]
    shadow = [Exchange(request="r3", response="1", inference_id="id-3")]
    summary = pair(production, shadow)
    assert (summary.production_records, summary.shadow_records) == (10, 1)
    assert (summary.pairs, summary.unpaired_production, summary.unpaired_shadow) == (1, 9, 0)


def test_shadow_without_production_twin_is_counted(pair: Pair) -> None:
    summary = pair([], [Exchange(request="r", response="1", inference_id="lost")])
    assert (summary.pairs, summary.unpaired_shadow) == (0, 1)


def test_duplicate_inference_ids_pair_nearest_in_time_and_are_counted(pair: Pair) -> None:
    production = [
        Exchange(request="a", response="first", at=at(0), inference_id="reused"),
        Exchange(request="b", response="second", at=at(60), inference_id="reused"),
        Exchange(request="c", response="third", at=at(120), inference_id="reused"),
    ]
    shadow = [
        Exchange(request="b", response="second", at=at(60.1), inference_id="reused"),
        Exchange(request="a", response="first", at=at(0.1), inference_id="reused"),
    ]
    summary = pair(production, shadow)
    assert summary.duplicate_inference_ids == 1
    assert (summary.pairs, summary.agreements, summary.unpaired_production) == (2, 2, 1)


def test_csv_answers_compare_as_text(pair: Pair) -> None:
    summary = pair(
        [
            Exchange(request="r", response="cat\n", inference_id="1"),
            Exchange(request="s", response="dog", inference_id="2"),
        ],
        [
            Exchange(request="r", response="cat", inference_id="1"),
            Exchange(request="s", response="Dog", inference_id="2"),
        ],
    )
    assert (summary.pairs, summary.agreements) == (2, 1)
    assert [(d.production_answer, d.shadow_answer) for d in summary.disagreements] == [("dog", "Dog")]


def test_numeric_answers_agree_within_the_tolerance(pair: Pair) -> None:
    production = [
        Exchange(request="r", response="0.731", inference_id="1"),
        Exchange(request="s", response="0.2", inference_id="2"),
    ]
    shadow = [
        Exchange(request="r", response="0.735", inference_id="1"),
        Exchange(request="s", response="0.3", inference_id="2"),
    ]
    assert pair(production, shadow).agreements == 0
    assert pair(production, shadow, tolerance=0.01).agreements == 1


def _json(request: str, response: Any, inference_id: str) -> Exchange:
    return Exchange(request=request, response=json.dumps(response), inference_id=inference_id, encoding="JSON")


def test_json_answers_compare_parsed(pair: Pair) -> None:
    production = [_json('{"x": 1}', {"label": "cat", "score": 0.91}, "1")]
    same = [
        Exchange(request='{"x": 1}', response='{ "score": 0.91, "label": "cat" }', inference_id="1", encoding="JSON")
    ]
    other = [_json('{"x": 1}', {"label": "cat", "score": 0.88}, "1")]
    assert pair(production, same).agreements == 1
    assert pair(production, other).agreements == 0


def test_json_answers_compare_the_output_path(pair: Pair) -> None:
    production = [_json('{"x": 1}', {"predictions": [{"label": "cat", "score": 0.91}]}, "1")]
    shadow = [_json('{"x": 1}', {"predictions": [{"label": "cat", "score": 0.62}]}, "1")]
    assert pair(production, shadow).agreements == 0
    summary = pair(production, shadow, output_path="predictions[0].label")
    assert (summary.agreements, summary.missing_answers) == (1, 0)


def test_output_path_matching_nothing_is_counted(pair: Pair) -> None:
    production = [_json("{}", {"label": "cat"}, "1")]
    summary = pair(production, production, output_path="predictions[0].label")
    assert summary.missing_answers == 1


def test_invalid_output_path_is_refused(pair: Pair) -> None:
    with pytest.raises(ValueError):
        pair([], [], output_path="predictions[")


def test_base64_answers_compare_as_bytes(pair: Pair) -> None:
    def exchange(payload: bytes, inference_id: str) -> Exchange:
        return Exchange(request=b64(b"img"), response=b64(payload), inference_id=inference_id, encoding="BASE64")

    summary = pair(
        [exchange(b"\x89PNG-a", "1"), exchange(b"\x00\x01", "2")],
        [exchange(b"\x89PNG-a", "1"), exchange(b"\x00\x02", "2")],
    )
    assert (summary.pairs, summary.agreements) == (2, 1)
    assert summary.disagreements[0].shadow_answer == "<2 bytes: 0002>"


@pytest.mark.parametrize(
    ("response", "encoding", "problem"),
    [("{oops", "JSON", "not valid JSON"), ("%%%", "BASE64", "not valid base64")],
)
def test_unreadable_answer_names_file_line_and_field(response: str, encoding: str, problem: str, pair: Pair) -> None:
    good = Exchange(
        request="r",
        response=json.dumps("ok") if encoding == "JSON" else b64(b"ok"),
        inference_id="1",
        encoding=encoding,
    )
    bad = Exchange(request="r", response=response, inference_id="2", encoding=encoding)
    with pytest.raises(CaptureFormatError) as caught:
        pair([good], [good, bad])
    assert str(caught.value).startswith("shadow.jsonl, line 2: captureData.endpointOutput.data: ")
    assert problem in str(caught.value)


def test_examples_keep_only_the_first_n_disagreements(pair: Pair) -> None:
    production = [Exchange(request=f"r{i}", response="a", inference_id=str(i)) for i in range(10)]
    shadow = [Exchange(request=f"r{i}", response="b", inference_id=str(i)) for i in range(10)]
    summary = pair(production, shadow, examples=3)
    assert summary.agreements == 0
    assert [d.inference_id for d in summary.disagreements] == ["0", "1", "2"]
    assert summary.disagreements[0].source == "production.jsonl"


def test_labelled_pairs_fill_the_paired_contingency_table(pair: Pair) -> None:
    answers = {"1": ("cat", "cat"), "2": ("cat", "dog"), "3": ("dog", "cat"), "4": ("dog", "dog"), "5": ("cat", "cat")}
    production = [Exchange(request=i, response=p, inference_id=i) for i, (p, _s) in answers.items()]
    shadow = [Exchange(request=i, response=s, inference_id=i) for i, (_p, s) in answers.items()]
    labels = {"1": "cat", "2": "cat", "3": "cat", "4": "cat", "unseen": "dog"}
    summary = pair(production, shadow, labels=labels)
    assert summary.labelled_pairs == 4
    assert (summary.both_right, summary.production_only_right, summary.shadow_only_right, summary.both_wrong) == (
        1,
        1,
        1,
        1,
    )
    assert summary.labels_unmatched == 1


# =====================================================================================
# Ground truth
# =====================================================================================


def test_ground_truth_csv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("inference_id,label,comment\nreq-1,cat,x\n\nreq-2, dog ,y\n", encoding="utf-8")
    assert read_labels(path) == {"req-1": "cat", "req-2": "dog"}


def test_ground_truth_json_lines_keep_their_types(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text('{"inference_id": "a", "label": 1}\n\n{"inference_id": "b", "label": [0, 1]}\n', encoding="utf-8")
    assert read_labels(path) == {"a": 1, "b": [0, 1]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,label\na,1\n", "labels.txt, line 1: (header): expected the columns inference_id,label"),
        ("inference_id,label\na,1\nb\n", "labels.txt, line 3: (row): expected 2 columns, got 1"),
        ("inference_id,label\na,1\na,2\n", "labels.txt, line 3: label: inference_id 'a' is labelled twice"),
        ('{"inference_id": "a", "label": 1}\n{"label": 2}\n', "labels.txt, line 2: inference_id: missing"),
        ('{"inference_id": "a", "label": 1}\n{"inference_id": "b"\n', "labels.txt, line 2: (line): not a JSON object"),
    ],
)
def test_malformed_ground_truth_names_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "labels.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GroundTruthError) as caught:
        read_labels(path)
    assert str(caught.value).startswith(str(tmp_path / message))


@pytest.mark.parametrize(
    "expression",
    ["predictions[0].label", "predictions[-1].score", "predictions[5].label", "a.b", "[0]", "label", "predictions[0][1]",
     "predictions[*].label", "length(predictions)"],
)  # fmt: skip
@pytest.mark.parametrize(
    "document",
    [{"predictions": [{"label": "cat", "score": 0.9}, {"label": "dog", "score": 0.1}]}, {"a": {"b": None}}, [1, 2],
     {"predictions": "text"}, {"label": 0}, {"predictions": [[1, 2]]}],
)  # fmt: skip
def test_output_path_finds_what_jmespath_finds(expression: str, document: Any) -> None:
    import jmespath

    from shadow_test_core.capture.answers import compile_output_path

    compiled = compile_output_path(expression)
    assert compiled is not None
    try:
        expected = jmespath.search(expression, document)
    except jmespath.exceptions.JMESPathError:
        return  # a function refusing its argument: not a field-and-index path
    assert compiled.search(document) == expected
