"""The pairing of ``shadow-test compare`` as one SQL query (Trino/Athena dialect), and the reading of its rows.

The query does what :func:`~shadow_test_core.capture.pairing.compare_variants` does, where the
capture is: it pairs both variants' records (by ``inferenceId``, else by identical request body), takes
each answer out of its response, decides agreement and correctness against ground truth, and returns
only counts and a few examples, never the records. The statistics stay in
:mod:`~shadow_test_core.capture.agreement`, computed from those counts.

What SQL cannot decide exactly is never guessed: two different CSV rows of numbers (equal within the
tolerance?) or two JSON objects or lists (equal but for key order or ``1`` vs ``1.0``?) come back grouped
by their distinct answers, and :func:`read_result` decides them with the same
:func:`~shadow_test_core.capture.answers.answers_agree` the streaming path uses. An ``--output-path``
that is not made of fields and non-negative indexes has no JSONPath form: :func:`pairing_query`
refuses it (:class:`UnsupportedInSql`) naming the flag.

Pairing when a key (an ``inferenceId``, or a request body) repeats: the k-th production record in time
pairs with the k-th shadow record in time. The streaming path takes, in production's order, the shadow
record nearest in time; both pair the same number of records (the smaller side's count per key) and the
same records unless the two variants' timestamps of one key cross.

A malformed record is not described in SQL: the query returns the first suspect record's place and the
engine re-reads that one line with :func:`~shadow_test_core.capture.records.parse_record` (see
:func:`check_record`), so its error names the file, the line and the field exactly as the streaming
path does.

Nothing here imports a SQL library: the text is built from small templates, parsed as Trino SQL
(sqlglot) in the tests, and run there on DuckDB.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shadow_test_core.capture.answers import answers_agree, format_answer, output_path_steps
from shadow_test_core.capture.pairing import CompareOptions, Disagreement, PairingSummary, answer_of
from shadow_test_core.capture.records import ENCODINGS, parse_record

__all__ = [
    "RECORD_COLUMNS",
    "RESULT_COLUMNS",
    "CaptureRelation",
    "GlueCaptureTable",
    "QueryResult",
    "SuspectRecord",
    "UnsupportedInSql",
    "VariantView",
    "check_record",
    "json_path",
    "pairing_query",
    "read_result",
]

#: The columns a relation of one variant's records offers the query (NULL where a field is absent or
#: not a string): ``line`` may be NULL where the engine cannot tell it (Athena).
RECORD_COLUMNS = (
    "source",
    "line",
    "event_id",
    "inference_id",
    "inference_time",
    "request_encoding",
    "request_data",
    "response_encoding",
    "response_data",
)

#: The columns of the query's result, in order; ``row_kind`` tells which of them a row fills.
RESULT_COLUMNS = (
    "row_kind",
    "n",
    "by_id",
    "missing",
    "labelled",
    "agree",
    "production_right",
    "shadow_right",
    "production_kind",
    "production_answer",
    "shadow_kind",
    "shadow_answer",
    "label_kind",
    "label_answer",
    "inference_id",
    "event_id",
    "inference_time",
    "source",
    "line",
    "production_records",
    "shadow_records",
    "duplicate_inference_ids",
    "labels_used",
    "labels_total",
)

# Python's str.strip() of a CSV answer, for the whitespace a model writes around it.
_WHITESPACE = " \t\n\r\x0b\x0c"


class UnsupportedInSql(ValueError):
    """A compare option with no SQL form; ``flag`` names the CLI flag."""

    def __init__(self, flag: str, problem: str) -> None:
        super().__init__(f"{flag}: {problem}")
        self.flag = flag


class CaptureRelation:
    """Where the query reads one variant's records: SQL text of a relation with :data:`RECORD_COLUMNS`."""

    def variant(self, name: str) -> str:
        """A parenthesized query (or table) of variant ``name``'s records."""
        raise NotImplementedError


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(name: str) -> str:
    return ".".join(_identifier(part) for part in name.split("."))


@dataclass(frozen=True, kw_only=True)
class VariantView(CaptureRelation):
    """A table or view with :data:`RECORD_COLUMNS` and a ``variant`` column (the embedded engine's)."""

    name: str

    def variant(self, name: str) -> str:
        """See :class:`CaptureRelation`."""
        columns = ", ".join(RECORD_COLUMNS)
        return f"(SELECT {columns} FROM {_qualified(self.name)} WHERE variant = {_literal(name)})"


@dataclass(frozen=True, kw_only=True)
class GlueCaptureTable(CaptureRelation):
    """A table over SageMaker's capture in its JSON shape (``capturedata``, ``eventmetadata`` structs),
    partitioned by ``endpoint`` and ``variant`` (Athena with partition projection).

    :param table: ``database.table``.
    """

    table: str
    endpoint: str

    def variant(self, name: str) -> str:
        """See :class:`CaptureRelation`; ``line`` is NULL (Athena does not number lines)."""
        given, answered, metadata = "capturedata.endpointinput", "capturedata.endpointoutput", "eventmetadata"
        return (
            f'(SELECT "$path" AS source, CAST(NULL AS BIGINT) AS line, {metadata}.eventid AS event_id, '
            f"{metadata}.inferenceid AS inference_id, {metadata}.inferencetime AS inference_time, "
            f"{given}.encoding AS request_encoding, {given}.data AS request_data, "
            f"{answered}.encoding AS response_encoding, {answered}.data AS response_data "
            f"FROM {_qualified(self.table)} "
            f"WHERE endpoint = {_literal(self.endpoint)} AND variant = {_literal(name)})"
        )


def json_path(output_path: str | None) -> str:
    """The JSONPath (``$.predictions[0].label``) of an ``--output-path`` made of fields and indexes.

    :raises UnsupportedInSql: for any other JMESPath expression (projections, filters, functions,
        negative indexes), naming ``--output-path``.
    """
    if output_path is None:
        return "$"
    steps = output_path_steps(output_path)
    if steps is None or any(isinstance(step, int) and step < 0 for step in steps):
        raise UnsupportedInSql(
            "--output-path",
            f"{output_path!r} has no SQL (JSONPath) form: only fields and non-negative indexes such as "
            "predictions[0].label do; use --engine stream for other JMESPath expressions",
        )
    path = "$"
    for step in steps:
        if isinstance(step, int):
            path += f"[{step}]"
        elif step.isidentifier():
            path += f".{step}"
        else:
            path += '["' + step.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return path


# -- the query ------------------------------------------------------------------------------------------


def _normalized(prefix: str, value: str) -> str:
    """Columns ``{prefix}_kind`` and ``{prefix}_text`` of ``value``, a JSON text (``missing`` when NULL)."""
    return (
        f"CASE WHEN {value} IS NULL OR {value} = 'null' THEN 'missing' "
        f"WHEN {value} IN ('true', 'false') THEN 'bool' "
        f"WHEN substr({value}, 1, 1) = '\"' THEN 'string' "
        f"WHEN substr({value}, 1, 1) IN ('{{', '[') THEN 'json' ELSE 'number' END AS {prefix}_kind, "
        f"CASE WHEN substr({value}, 1, 1) = '\"' THEN json_extract_scalar({value}, '$') "
        f"WHEN {value} <> 'null' THEN {value} END AS {prefix}_text"
    )


def _with_number(prefix: str, relation: str) -> str:
    """``relation`` with ``{prefix}_num``: the answer as a number where it reads as one (``"1"`` too)."""
    kind, text = f"{prefix}_kind", f"{prefix}_text"
    return f"SELECT *, CASE WHEN {kind} IN ('string', 'number') THEN try_cast({text} AS DOUBLE) END AS {prefix}_num FROM ({relation})"


def _answer_columns(path: str, records: str) -> str:
    """An answer's kind (missing, bool, number, string, json, bytes), canonical text and number."""
    value = f"json_format(json_extract(try(json_parse(response_data)), {_literal(path)}))"
    csv_text = f"trim(BOTH {_literal(_WHITESPACE)} FROM response_data)"
    answer = (
        f"SELECT *, CASE response_encoding WHEN 'JSON' THEN json_kind WHEN 'BASE64' THEN 'bytes' "
        f"ELSE 'string' END AS answer_kind, "
        f"CASE response_encoding WHEN 'JSON' THEN json_text "
        f"WHEN 'BASE64' THEN lower(to_hex(try(from_base64(response_data)))) ELSE {csv_text} END AS answer_text "
        f"FROM (SELECT *, {_normalized('json', 'answer_json')} "
        f"FROM (SELECT *, CASE WHEN response_encoding = 'JSON' THEN {value} END AS answer_json FROM {records}))"
    )
    return _with_number("answer", answer)


def _agrees(first: str, second: str, tolerance: float) -> str:
    """TRUE, FALSE, or NULL where only the core can tell (see the module's docstring)."""
    a_kind, a_text, a_num = f"{first}_kind", f"{first}_text", f"{first}_num"
    b_kind, b_text, b_num = f"{second}_kind", f"{second}_text", f"{second}_num"
    rows = " AND ".join(f"(strpos({t}, ',') > 0 OR strpos({t}, chr(10)) > 0)" for t in (a_text, b_text))
    return (
        f"CASE WHEN {a_num} IS NOT NULL AND {b_num} IS NOT NULL THEN "
        f"({a_num} = {b_num} OR (is_nan({a_num}) AND is_nan({b_num})) OR abs({a_num} - {b_num}) <= {tolerance!r}) "
        f"WHEN {a_kind} <> {b_kind} THEN false "
        f"WHEN {a_kind} = 'missing' OR {a_text} = {b_text} THEN true "
        f"WHEN {a_kind} = 'json' THEN NULL "
        f"WHEN {a_kind} = 'string' AND {rows} THEN NULL "
        f"ELSE false END"
    )


def _variant_cte(name: str, relation: str) -> str:
    encodings = ", ".join(_literal(e) for e in sorted(ENCODINGS))
    moment = "to_unixtime(try(from_iso8601_timestamp(inference_time)))"
    key = (
        "CASE WHEN inference_id IS NOT NULL THEN 'i:' || inference_id "
        "ELSE 'b:' || request_encoding || ':' || request_data END"
    )
    return (
        f"{name}_records AS (SELECT source, line, event_id, nullif(inference_id, '') AS inference_id, "
        f"{moment} AS at, request_encoding, request_data, response_encoding, response_data FROM {relation}), "
        f"{name}_checked AS (SELECT *, ("
        f"event_id IS NULL OR at IS NULL OR request_data IS NULL OR response_data IS NULL "
        f"OR coalesce(request_encoding NOT IN ({encodings}), true) "
        f"OR coalesce(response_encoding NOT IN ({encodings}), true) "
        f"OR (response_encoding = 'JSON' AND try(json_parse(response_data)) IS NULL) "
        f"OR (response_encoding = 'BASE64' AND try(from_base64(response_data)) IS NULL)"
        f") AS suspect FROM {name}_records), "
        f"{name} AS (SELECT *, row_number() OVER (PARTITION BY key ORDER BY at, source, line, event_id) AS rank "
        f"FROM (SELECT *, {key} AS key FROM {name}_checked WHERE NOT suspect))"
    )


def _select(values: Mapping[str, str]) -> str:
    """One branch of the result's UNION ALL: every result column, NULL (typed) where not given."""
    types = {
        "row_kind": "VARCHAR",
        "n": "BIGINT",
        "inference_time": "DOUBLE",
        "line": "BIGINT",
        **dict.fromkeys(("by_id", "missing", "labelled", "agree", "production_right", "shadow_right"), "BOOLEAN"),
        **dict.fromkeys(
            ("production_records", "shadow_records", "duplicate_inference_ids", "labels_used", "labels_total"),
            "BIGINT",
        ),
    }
    return ", ".join(
        f"CAST({values.get(column, 'NULL')} AS {types.get(column, 'VARCHAR')}) AS {column}" for column in RESULT_COLUMNS
    )


def pairing_query(
    relation: CaptureRelation,
    *,
    production_variant: str,
    shadow_variant: str,
    options: CompareOptions,
    labels: str | None = None,
) -> str:
    """The Trino SQL of one comparison; its rows (:data:`RESULT_COLUMNS`) are read by :func:`read_result`.

    :param labels: a table or view of ground truth with the columns ``inference_id`` (VARCHAR) and
        ``label`` (the label's JSON text: ``"churn"`` with its quotes for a CSV label). Default: none.
    :raises UnsupportedInSql: if ``options.output_path`` has no JSONPath form.
    """
    path = json_path(options.output_path)
    production = _variant_cte("production", relation.variant(production_variant))
    shadow = _variant_cte("shadow", relation.variant(shadow_variant))

    label_join = ""
    label_columns = "CAST(NULL AS VARCHAR) AS label_kind, CAST(NULL AS VARCHAR) AS label_text"
    if labels is not None:
        label_join = f"LEFT JOIN {_qualified(labels)} l ON l.inference_id = p.inference_id"
        label_columns = _normalized("label", "l.label")
    tolerance = float(options.tolerance)
    no_labels = "LEFT JOIN (SELECT CAST(NULL AS VARCHAR) AS inference_id) l ON false"
    paired = (
        f"SELECT p.source, p.line, p.event_id, p.inference_id, p.at, "
        f"s.inference_id IS NOT NULL AS by_id, "
        f"p.answer_kind AS production_kind, p.answer_text AS production_text, p.answer_num AS production_num, "
        f"s.answer_kind AS shadow_kind, s.answer_text AS shadow_text, s.answer_num AS shadow_num, "
        f"l.inference_id IS NOT NULL AS labelled, {label_columns} "
        f"FROM ({_answer_columns(path, 'production')}) p "
        f"JOIN ({_answer_columns(path, 'shadow')}) s ON p.key = s.key AND p.rank = s.rank "
        f"{label_join or no_labels}"
    )
    pairs = (
        f"pairs AS ({_with_number('label', paired)}), "
        f"decided AS (SELECT *, "
        f"production_kind = 'missing' OR shadow_kind = 'missing' AS missing, "
        f"{_agrees('production', 'shadow', tolerance)} AS agree, "
        f"CASE WHEN labelled THEN {_agrees('production', 'label', tolerance)} END AS production_right, "
        f"CASE WHEN labelled THEN {_agrees('shadow', 'label', tolerance)} END AS shadow_right "
        f"FROM pairs)"
    )
    undecided = "(agree IS NULL OR (labelled AND (production_right IS NULL OR shadow_right IS NULL)))"
    kept = ("production_kind", "production_text", "shadow_kind", "shadow_text", "label_kind", "label_text")
    kept_when_undecided = ", ".join(f"CASE WHEN {undecided} THEN {c} END AS {c}" for c in kept)
    labels_total = f"(SELECT count(*) FROM {_qualified(labels)})" if labels is not None else "0"
    totals = _select(
        {
            "row_kind": "'totals'",
            "production_records": "(SELECT count(*) FROM production_records)",
            "shadow_records": "(SELECT count(*) FROM shadow_records)",
            "duplicate_inference_ids": "(SELECT count(*) FROM shadow WHERE inference_id IS NOT NULL AND rank > 1)",
            "labels_used": "(SELECT count(DISTINCT inference_id) FROM decided WHERE labelled)",
            "labels_total": labels_total,
        }
    )
    cell_names = ("by_id", "missing", "labelled", "agree", "production_right", "shadow_right")
    cells = _select(
        {
            "row_kind": "'cell'",
            "n": "count(*)",
            **{c: c for c in cell_names},
            **{c.replace("_text", "_answer"): c for c in kept},
        }
    )
    group = ", ".join((*cell_names, *kept))
    example_columns = ("inference_id", "event_id", "source", "line")
    examples = _select(
        {
            "row_kind": "'example'",
            **{c: c for c in example_columns},
            "inference_time": "at",
            **{c.replace("_text", "_answer"): c for c in kept[:4]},
            "agree": "agree",
        }
    )
    suspects = _select({"row_kind": "'suspect'", "source": "source", "line": "line", "event_id": "event_id"})
    limit = int(options.examples)
    return (
        f"WITH {production}, {shadow}, {pairs} "
        f"SELECT {totals} "
        f"UNION ALL SELECT {cells} FROM (SELECT {', '.join(cell_names)}, {kept_when_undecided} FROM decided) "
        f"GROUP BY {group} "
        f"UNION ALL SELECT * FROM (SELECT {examples} FROM decided WHERE agree IS NOT TRUE "
        f"ORDER BY source, line, at, event_id LIMIT {limit + _EXAMPLE_SLACK}) "
        f"UNION ALL SELECT * FROM (SELECT {suspects} FROM ("
        f"SELECT source, line, event_id FROM production_checked WHERE suspect "
        f"UNION ALL SELECT source, line, event_id FROM shadow_checked WHERE suspect) "
        f"ORDER BY source, line LIMIT 1)"
    )


# Undecided pairs among the first examples may turn out to agree: a few more rows stand in for them.
_EXAMPLE_SLACK = 20


# -- reading its rows -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SuspectRecord:
    """A record the query could not read; :func:`check_record` says what is wrong with it."""

    source: str
    line: int | None
    event_id: str | None


@dataclass(frozen=True, kw_only=True)
class QueryResult:
    """The comparison's counts (as the streaming path gives them), or the first record to recheck."""

    summary: PairingSummary | None
    suspect: SuspectRecord | None = None


def _value(kind: str | None, text: str | None) -> Any:
    """The Python answer the streaming path would have, from its kind and canonical text."""
    if kind in (None, "missing"):
        return None
    assert text is not None
    if kind == "bool":
        return text == "true"
    if kind in ("number", "json"):
        return json.loads(text)
    if kind == "bytes":
        return bytes.fromhex(text)
    return text


def _decide(decided: bool | None, first: Any, second: Any, tolerance: float) -> bool:
    return answers_agree(first, second, tolerance) if decided is None else bool(decided)


def read_result(
    rows: Iterable[Sequence[Any]],
    *,
    options: CompareOptions,
    labels_given: bool,
    line_of: Callable[[str, str], int] | None = None,
) -> QueryResult:
    """The :class:`PairingSummary` of the query's rows (each in :data:`RESULT_COLUMNS` order).

    :param labels_given: whether a labels table was queried (else ``labels_unmatched`` is 0).
    :param line_of: the line number of ``(source, event_id)``, for an engine whose ``line`` only orders
        the records. Default: the ``line`` column (0 where it is NULL).
    """
    tolerance = options.tolerance
    counts = dict.fromkeys(("pairs", "by_id", "agree", "missing", "labelled", "both", "p", "s", "none"), 0)
    totals: dict[str, Any] = {}
    examples: list[dict[str, Any]] = []
    for raw in rows:
        row = dict(zip(RESULT_COLUMNS, raw, strict=True))
        kind = row["row_kind"]
        if kind == "suspect":
            return QueryResult(
                summary=None,
                suspect=SuspectRecord(source=row["source"], line=row["line"], event_id=row["event_id"]),
            )
        if kind == "totals":
            totals = row
        elif kind == "example":
            examples.append(row)
        elif kind == "cell":
            _count_cell(row, counts, tolerance)
    disagreements = []
    for row in sorted(examples, key=_example_order):
        if len(disagreements) >= options.examples:
            break
        production = _value(row["production_kind"], row["production_answer"])
        shadow = _value(row["shadow_kind"], row["shadow_answer"])
        if _decide(row["agree"], production, shadow, tolerance):
            continue
        line = row["line"] if line_of is None else line_of(row["source"], row["event_id"])
        disagreements.append(
            Disagreement(
                inference_id=row["inference_id"],
                event_id=row["event_id"],
                inference_time=float(row["inference_time"]),
                production_answer=format_answer(production),
                shadow_answer=format_answer(shadow),
                source=row["source"],
                line=int(line or 0),
            )
        )
    production_records, shadow_records = int(totals["production_records"]), int(totals["shadow_records"])
    pairs = counts["pairs"]
    summary = PairingSummary(
        production_records=production_records,
        shadow_records=shadow_records,
        pairs=pairs,
        paired_by_inference_id=counts["by_id"],
        paired_by_body=pairs - counts["by_id"],
        agreements=counts["agree"],
        unpaired_production=production_records - pairs,
        unpaired_shadow=shadow_records - pairs,
        duplicate_inference_ids=int(totals["duplicate_inference_ids"]),
        missing_answers=counts["missing"],
        labelled_pairs=counts["labelled"],
        both_right=counts["both"],
        production_only_right=counts["p"],
        shadow_only_right=counts["s"],
        both_wrong=counts["none"],
        labels_unmatched=int(totals["labels_total"]) - int(totals["labels_used"]) if labels_given else 0,
        disagreements=tuple(disagreements),
    )
    return QueryResult(summary=summary)


def _example_order(row: Mapping[str, Any]) -> tuple[Any, ...]:
    line = row["line"]
    return (row["source"], -1 if line is None else line, row["inference_time"], row["event_id"])


def _count_cell(row: Mapping[str, Any], counts: dict[str, int], tolerance: float) -> None:
    n = int(row["n"])
    production = _value(row["production_kind"], row["production_answer"])
    shadow = _value(row["shadow_kind"], row["shadow_answer"])
    counts["pairs"] += n
    counts["by_id"] += n * bool(row["by_id"])
    counts["missing"] += n * bool(row["missing"])
    counts["agree"] += n * _decide(row["agree"], production, shadow, tolerance)
    if not row["labelled"]:
        return
    label = _value(row["label_kind"], row["label_answer"])
    production_right = _decide(row["production_right"], production, label, tolerance)
    shadow_right = _decide(row["shadow_right"], shadow, label, tolerance)
    cell = ("both" if shadow_right else "p") if production_right else ("s" if shadow_right else "none")
    counts["labelled"] += n
    counts[cell] += n


def check_record(line: bytes, *, source: str, line_number: int, options: CompareOptions) -> None:
    """Parse one line and its answer as the streaming path does.

    :raises CaptureFormatError: if the line is malformed, naming the file, the line and the field.
    """
    answer_of(parse_record(line, source=source, line_number=line_number), options)
