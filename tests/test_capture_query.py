"""The pairing query (capture/query.py): Trino SQL that sqlglot parses, JSONPath from --output-path, and the
reading of its rows. Its meaning is tested by running it on DuckDB (test_capture_pairing, test_compare_cli)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from shadow_test_core.capture.pairing import CompareOptions
from shadow_test_core.capture.query import (
    RESULT_COLUMNS,
    GlueCaptureTable,
    UnsupportedInSql,
    VariantView,
    json_path,
    pairing_query,
    read_result,
)

RELATIONS = [VariantView(name="capture"), GlueCaptureTable(table="shadow_db.capture", endpoint="churn-endpoint")]


@pytest.mark.parametrize("relation", RELATIONS, ids=["view", "glue"])
@pytest.mark.parametrize(
    ("options", "labels"),
    [
        (CompareOptions(), None),
        (CompareOptions(output_path="predictions[0].label", tolerance=0.05, examples=3), "labels"),
        (CompareOptions(output_path='"odd key"[2]'), "shadow_db.labels"),
    ],
)
def test_generated_sql_parses_as_trino(relation: Any, options: CompareOptions, labels: str | None) -> None:
    query = pairing_query(relation, production_variant="prod", shadow_variant="shad'ow", options=options, labels=labels)
    tree = sqlglot.parse_one(query, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Union)
    assert [column.alias_or_name for column in tree.selects] == list(RESULT_COLUMNS)
    assert "'shad''ow'" in query  # names are quoted literals, never spliced


def test_glue_relation_filters_on_the_partition_columns() -> None:
    query = pairing_query(RELATIONS[1], production_variant="prod", shadow_variant="shadow", options=CompareOptions())
    assert "FROM \"shadow_db\".\"capture\" WHERE endpoint = 'churn-endpoint' AND variant = 'prod'" in query
    assert "FROM \"shadow_db\".\"capture\" WHERE endpoint = 'churn-endpoint' AND variant = 'shadow'" in query


@pytest.mark.parametrize(
    ("expression", "path"),
    [
        (None, "$"),
        ("predictions[0].label", "$.predictions[0].label"),
        ("[1][0]", "$[1][0]"),
        ('"odd key".x', '$["odd key"].x'),
    ],
)
def test_output_path_becomes_json_path(expression: str | None, path: str) -> None:
    assert json_path(expression) == path


@pytest.mark.parametrize("expression", ["predictions[*].label", "length(predictions)", "predictions[-1].score"])
def test_output_path_without_json_path_form_is_refused_naming_the_flag(expression: str) -> None:
    with pytest.raises(UnsupportedInSql) as caught:
        json_path(expression)
    assert caught.value.flag == "--output-path"
    assert str(caught.value).startswith(f"--output-path: {expression!r} has no SQL")


def _row(**values: Any) -> tuple[Any, ...]:
    return tuple(values.get(column) for column in RESULT_COLUMNS)


def _totals(production: int, shadow: int, labels_used: int = 0, labels_total: int = 0) -> tuple[Any, ...]:
    return _row(
        row_kind="totals",
        production_records=production,
        shadow_records=shadow,
        duplicate_inference_ids=0,
        labels_used=labels_used,
        labels_total=labels_total,
    )


def test_undecided_cells_are_decided_by_the_core() -> None:
    # SQL cannot tell whether two CSV rows of numbers agree within the tolerance: the core does.
    cell = {"row_kind": "cell", "by_id": True, "missing": False, "labelled": False, "agree": None}
    rows = [
        _totals(10, 10),
        _row(**cell, n=4, production_kind="string", production_answer="0.1,0.9", shadow_kind="string",
             shadow_answer="0.12,0.88"),
        _row(**cell, n=3, production_kind="json", production_answer='{"a":1,"b":2}', shadow_kind="json",
             shadow_answer='{"b":2.0,"a":1}'),
        _row(**{**cell, "agree": False}, n=3),
    ]  # fmt: skip
    summary = read_result(rows, options=CompareOptions(tolerance=0.05), labels_given=False).summary
    assert summary is not None
    assert (summary.pairs, summary.agreements, summary.paired_by_inference_id) == (10, 7, 10)


def test_labelled_cells_fill_the_contingency_table() -> None:
    cell = {"row_kind": "cell", "by_id": True, "missing": False, "labelled": True, "agree": False}
    rows = [
        _totals(5, 5, labels_used=5, labels_total=7),
        _row(**cell, n=2, production_right=True, shadow_right=False),
        _row(**cell, n=3, production_right=False, shadow_right=True),
    ]
    summary = read_result(rows, options=CompareOptions(), labels_given=True).summary
    assert summary is not None
    assert (summary.production_only_right, summary.shadow_only_right, summary.labelled_pairs) == (2, 3, 5)
    assert summary.labels_unmatched == 2


def test_examples_skip_undecided_pairs_that_agree_and_keep_stream_order() -> None:
    example = {"row_kind": "example", "source": "f", "event_id": "e", "inference_time": 0.0}
    rows = [
        _totals(3, 3),
        _row(**example, line=3, agree=False, production_kind="string", production_answer="b",
             shadow_kind="string", shadow_answer="c"),
        _row(**example, line=1, agree=None, production_kind="string", production_answer="1,2",
             shadow_kind="string", shadow_answer="1.0,2.0"),
        _row(**example, line=2, agree=False, production_kind="bytes", production_answer="0001",
             shadow_kind="missing"),
    ]  # fmt: skip
    summary = read_result(rows, options=CompareOptions(examples=5), labels_given=False).summary
    assert summary is not None
    assert [(d.line, d.production_answer, d.shadow_answer) for d in summary.disagreements] == [
        (2, "<2 bytes: 0001>", "null"),
        (3, "b", "c"),
    ]


def test_a_suspect_record_is_returned_for_the_parser_to_name() -> None:
    result = read_result(
        [_totals(1, 1), _row(row_kind="suspect", source="s3://b/k.jsonl", line=None, event_id=None)],
        options=CompareOptions(),
        labels_given=False,
    )
    assert result.summary is None
    assert result.suspect is not None
    assert result.suspect.source == "s3://b/k.jsonl"
