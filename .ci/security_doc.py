#!/usr/bin/env python3
"""Write the generated tables of docs/security.md from the declarations of constructs_pkg.

    .venv/bin/python .ci/security_doc.py          # rewrite the tables in docs/security.md
    .venv/bin/python .ci/security_doc.py --check  # exit 1 when the doc and the catalog differ

The IAM table comes from constructs_pkg/security/statements (each statement declared once), the
acknowledgement and checkov tables from constructs_pkg/security/acknowledgements.py. Each table sits between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->``;
tests/test_security.py checks them with :func:`stale_tables`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from constructs_pkg.security.acknowledgements import ACKNOWLEDGEMENTS, CHECKOV_SKIPS  # noqa: E402
from constructs_pkg.security.statements import STATEMENTS  # noqa: E402

DOC = ROOT / "docs" / "security.md"
#: Each document and the generated blocks it must hold (README.md points to docs/security.md).
DOCUMENTS = {DOC: ("iam-statements", "acknowledgements", "checkov-skips")}
_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)", re.S
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(items: Iterable[str]) -> str:
    return "<br>".join(f"`{_cell(item)}`" for item in items) or "-"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def iam_statements() -> str:
    rows = []
    for number, statement in enumerate(STATEMENTS, 1):
        why = _cell(statement.why)
        if statement.wildcard:
            why += f". **Wildcard:** {_cell(statement.wildcard)}"
        rows.append(
            [
                str(number),
                f"`{statement.sid}`",
                f"`{statement.policy_of}` ({statement.kind})",
                f"`{statement.principal}`" if statement.principal else "-",
                statement.effect,
                _code(statement.actions),
                _code(statement.resources),
                f"`{_cell(statement.condition)}`" if statement.condition else "-",
                _cell(statement.when),
                _cell(statement.written_by or "this library"),
                why,
            ]
        )
    header = ["#", "Sid", "Policy of", "Principal", "Effect", "Actions", "Resources", "Condition", "When"]
    return _table([*header, "Written by", "Why"], rows)


def acknowledgements() -> str:
    rows = [
        [
            entry.owner,
            _code(entry.targets),
            _code(entry.rules),
            _cell(entry.when),
            _cell(entry.reason),
        ]
        for entry in ACKNOWLEDGEMENTS
    ]
    return _table(["Owner", "Resources (relative to the owner)", "Acknowledged rules", "When", "Reason"], rows)


def checkov_skips() -> str:
    rows = [
        [f"`{entry.check}`", entry.owner, _code(entry.targets), _cell(entry.when), _cell(entry.comment)]
        for entry in CHECKOV_SKIPS
    ]
    return _table(["Check", "Owner", "Resources (relative to the owner)", "When", "Comment"], rows)


GENERATORS = {"iam-statements": iam_statements, "acknowledgements": acknowledgements, "checkov-skips": checkov_skips}


def render(text: str) -> str:
    """``text`` with every generated block rewritten from the catalog."""

    def block(match: re.Match[str]) -> str:
        return match.group(1) + GENERATORS[match.group("name")]() + match.group(4)

    return _BLOCK.sub(block, text)


def stale_tables(text: str, names: tuple[str, ...] = tuple(GENERATORS)) -> list[str]:
    """The names of generated blocks that differ from the catalog, or are missing from ``text``."""
    present = {m.group("name"): m.group("body") for m in _BLOCK.finditer(text)}
    return [name for name in names if present.get(name) != GENERATORS[name]()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when docs/security.md is out of date")
    args = parser.parse_args()
    failed = 0
    for document, names in DOCUMENTS.items():
        text = document.read_text()
        if not args.check:
            document.write_text(render(text))
            continue
        stale = stale_tables(text, names)
        if stale:
            print(f"{document}: out of date: {', '.join(stale)}; run .ci/security_doc.py", file=sys.stderr)
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
