"""botocore's ``sagemaker`` service model: the one walker of request shapes and their limits.

Every check of a value against SageMaker's API goes through here: the settings rules
(``rules.py``, at synth and in the handler) and the development stand-in that answers requests
as SageMaker validates them. Required members, types, lengths, ranges, list and map sizes, enums
and patterns all come from the model, so they follow the installed botocore and never go stale.

The model's patterns are Java regular expressions matched against the whole value; they are
translated here to Python's ``re`` with Java's meaning kept (``.`` excludes every line
terminator, ``\\d`` and POSIX classes are ASCII, ``\\p{L}``-style Unicode categories work). A
pattern the translation does not know matches everything: the walker never refuses a value
SageMaker might accept.

Imports nothing but the standard library and botocore (deferred until the model is first read).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

SERVICE = "sagemaker"


@cache
def service_model() -> Any:
    """botocore's ``sagemaker`` service model, loaded once."""
    import botocore.session  # deferred: importing the core costs nothing until a value is checked

    return botocore.session.get_session().get_service_model(SERVICE)


def input_shape(operation: str) -> Any:
    """The request shape of ``operation`` (``CreateInferenceExperiment``), or None if it takes none."""
    return service_model().operation_model(operation).input_shape


def member_shape(operation: str, member_path: str) -> Any:
    """The shape of one request member of ``operation``.

    ``member_path`` is dotted; ``[]`` (or an index such as ``[0]``) steps into a list's member:
    ``ModelVariants[].InfrastructureConfig.RealTimeInferenceConfig.InstanceType``.
    """
    shape = input_shape(operation)
    for step in member_path.split("."):
        name, bracket, _index = step.partition("[")
        shape = shape.members[name]
        if bracket:
            shape = shape.member
    return shape


# --- Java regular expressions -------------------------------------------------------------------
# Python's re lacks \p{..}: every non-ASCII character of a value is replaced by a private-use
# placeholder standing for its major Unicode category, and \p{X} becomes "the ASCII characters of
# category X plus X's placeholder". Only patterns that use categories have their values mapped.

_CATEGORY_PLACEHOLDERS: dict[str, str] = {major: chr(0xE000 + index) for index, major in enumerate("CLMNPSZ")}

_POSIX_CLASSES: dict[str, Callable[[str], bool]] = {
    "Lower": lambda c: "a" <= c <= "z",
    "Upper": lambda c: "A" <= c <= "Z",
    "ASCII": lambda c: True,
    "Alpha": str.isalpha,
    "Digit": str.isdigit,
    "Alnum": str.isalnum,
    "Punct": lambda c: c.isprintable() and not c.isalnum() and c != " ",
    "Graph": lambda c: c.isprintable() and c != " ",
    "Print": str.isprintable,
    "Blank": lambda c: c in " \t",
    "Cntrl": lambda c: not c.isprintable(),
    "XDigit": lambda c: c in "0123456789abcdefABCDEF",
    "Space": lambda c: c in " \t\n\x0b\f\r",
}

_JAVA_DOT = r"[^\n\r\x85\u2028\u2029]"  # Java's "." excludes every line terminator; Python's only "\n"
_SURROGATE_PAIR = re.compile(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", re.IGNORECASE)
_ANCHOR_QUANTIFIER = re.compile(r"\{(\d+)(,\d*)?\}")
_ASCII = [chr(code) for code in range(128)]
_UNSUPPORTED_ESCAPES = frozenset("QEGRXhHvVkZ")  # no faithful Python equivalent


class UnsupportedPatternError(ValueError):
    """A Java regular-expression construct the translation does not handle."""


@dataclass(frozen=True)
class _JavaPattern:
    regex: re.Pattern[str]
    maps_categories: bool

    def fullmatch(self, value: str) -> bool:
        if self.maps_categories:
            value = "".join(_category_stand_in(char) for char in value)
        return self.regex.fullmatch(value) is not None


def _category_stand_in(char: str) -> str:
    return char if char.isascii() else _CATEGORY_PLACEHOLDERS[unicodedata.category(char)[0]]


def _class_body(chars: Iterable[str]) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in chars)


def _property_class_body(name: str) -> tuple[str, bool]:
    """Character-class body for ``\\p{name}``, and whether it uses the category placeholders."""
    if name.startswith("Is") and name[2:] in _CATEGORY_PLACEHOLDERS:
        name = name[2:]
    if name in _CATEGORY_PLACEHOLDERS:
        members = [c for c in _ASCII if unicodedata.category(c)[0] == name]
        return _class_body([*members, _CATEGORY_PLACEHOLDERS[name]]), True
    if name in _POSIX_CLASSES:
        return _class_body(c for c in _ASCII if _POSIX_CLASSES[name](c)), False
    raise UnsupportedPatternError(f"unsupported property class \\p{{{name}}}")


def translate_java_pattern(pattern: str) -> tuple[str, bool]:
    """Translate a Java regular expression to Python ``re`` syntax (to be compiled with ``re.ASCII``).

    Returns the translation and whether values must have their non-ASCII characters mapped to
    category placeholders before matching. Raises :class:`UnsupportedPatternError`.
    """
    out: list[str] = []
    maps_categories = in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            token, index, uses_categories = _translate_escape(pattern, index, in_class)
            maps_categories |= uses_categories
            out.append(token)
            continue
        if in_class:
            if char == "[" or pattern.startswith("&&", index):
                raise UnsupportedPatternError("nested or intersected character classes")
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == ".":
            char = _JAVA_DOT
        elif char in "^$":
            out.append(char)
            index = _skip_anchor_quantifier(pattern, index + 1)
            continue
        out.append(char)
        index += 1
    return "".join(out), maps_categories


def _translate_escape(pattern: str, index: int, in_class: bool) -> tuple[str, int, bool]:
    following = pattern[index + 1 : index + 2]
    if following in ("p", "P") and pattern.startswith("{", index + 2):
        if following == "P":
            raise UnsupportedPatternError("negated property class \\P{..}")
        end = pattern.index("}", index)
        body, maps_categories = _property_class_body(pattern[index + 3 : end])
        return (body if in_class else f"[{body}]"), end + 1, maps_categories
    pair = _SURROGATE_PAIR.match(pattern, index)
    if pair:  # Java spells a supplementary character as its UTF-16 surrogate pair
        code_point = 0x10000 + ((int(pair[1], 16) - 0xD800) << 10) + (int(pair[2], 16) - 0xDC00)
        return f"\\U{code_point:08x}", pair.end(), False
    if following == "z":  # Java's end of input; Python spells it \Z
        return "\\Z", index + 2, False
    if following in _UNSUPPORTED_ESCAPES or pattern.startswith("x{", index + 1):
        raise UnsupportedPatternError(f"unsupported escape \\{following}")
    return pattern[index : index + 2], index + 2, False


def _skip_anchor_quantifier(pattern: str, index: int) -> int:
    """Java accepts a quantifier on an anchor (``${1,128}``); a mandatory one changes nothing."""
    quantifier = _ANCHOR_QUANTIFIER.match(pattern, index)
    return quantifier.end() if quantifier and int(quantifier[1]) >= 1 else index


@cache
def compile_java_pattern(pattern: str) -> _JavaPattern:
    """Compile a service-model (Java) pattern for full matching; raises :class:`UnsupportedPatternError`."""
    translated, maps_categories = translate_java_pattern(pattern)
    try:
        regex = re.compile(translated, re.ASCII)
    except re.error as error:
        raise UnsupportedPatternError(f"{pattern!r}: {error}") from error
    return _JavaPattern(regex, maps_categories)


def matches_pattern(value: str, pattern: str) -> bool:
    """Whether ``value`` fully matches the service-model (Java) regular expression ``pattern``.

    A pattern the translation cannot handle matches everything, so no value SageMaker might
    accept is refused.
    """
    try:
        compiled = compile_java_pattern(pattern)
    except UnsupportedPatternError:
        return True
    return compiled.fullmatch(value)


# --- The walker ---------------------------------------------------------------------------------

#: Python types of each model type in a request as it travels (JSON: timestamps are numbers).
_WIRE_TYPES: dict[str, tuple[type, ...]] = {
    "structure": (dict,),
    "map": (dict,),
    "list": (list,),
    "string": (str,),
    "blob": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "timestamp": (int, float),
    "boolean": (bool,),
}
_NUMBERS = frozenset({"integer", "long", "float", "double"})


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One way a value breaks the shape it must fit.

    ``kind`` is ``required``, ``unknown`` (a member the structure lacks), ``type``,
    ``min_length``/``max_length`` (characters of a string, items of a list or map),
    ``min_value``/``max_value``, ``enum`` or ``pattern``; ``limit`` is the bound, the enum's
    values, the pattern or the unknown member's name. ``path`` is in request syntax
    (``ModelVariants[1].InfrastructureConfig.RealTimeInferenceConfig.InstanceType``).
    """

    path: str
    value: Any
    kind: str
    shape: Any
    limit: Any = None

    def message(self) -> str:
        """The violation as SageMaker words it in a ``ValidationException``."""
        if self.kind == "unknown":
            valid = ", ".join(self.shape.members)
            return (
                f"Unknown member '{self.path}': {self.shape.name} has no member {self.limit!r}; "
                f"valid members are {valid}"
            )
        return f"Value {_show(self.value)} at '{self.path or '(request body)'}' failed to satisfy constraint: " + (
            _CONSTRAINTS[self.kind].format(limit=self.limit, type=self.shape.type_name)
        )


_CONSTRAINTS = {
    "required": "Member must not be null",
    "type": "Member must be of type {type}",
    "min_length": "Member must have length greater than or equal to {limit}",
    "max_length": "Member must have length less than or equal to {limit}",
    "min_value": "Member must have value greater than or equal to {limit}",
    "max_value": "Member must have value less than or equal to {limit}",
    "enum": "Member must satisfy enum value set: [{limit}]",
    "pattern": "Member must satisfy regular expression pattern: {limit}",
}


def _show(value: Any) -> str:
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def input_problems(operation: str, params: dict[str, Any]) -> list[str]:
    """Every way ``params`` (a request as sent, JSON-shaped) breaks ``operation``'s input shape.

    One line per problem, worded as SageMaker words them, e.g. ``Value 'ml.bogus' at
    'ModelVariants[1].InfrastructureConfig.RealTimeInferenceConfig.InstanceType' failed to
    satisfy constraint: Member must satisfy enum value set: [...]``.
    """
    shape = input_shape(operation)
    if shape is None:
        return ["Request takes no parameters"] if params else []
    return [violation.message() for violation in shape_violations(shape, params)]


def shape_violations(shape: Any, value: Any, path: str = "") -> list[Violation]:
    """Every violation of ``shape`` by ``value``, walking structures, lists and maps recursively."""
    found: list[Violation] = []
    _walk(shape, value, path, found)
    return found


def _has_wire_type(shape: Any, value: Any) -> bool:
    if isinstance(value, bool) and shape.type_name != "boolean":
        return False  # JSON's true is no number
    return isinstance(value, _WIRE_TYPES.get(shape.type_name, (object,)))


def _walk(shape: Any, value: Any, path: str, found: list[Violation]) -> None:
    if not _has_wire_type(shape, value):
        found.append(Violation(path=path, value=value, kind="type", shape=shape))
        return
    if shape.type_name == "structure":
        _walk_structure(shape, value, path, found)
    elif shape.type_name == "list":
        _check_size(shape, value, path, found)
        for index, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{index}]", found)
    elif shape.type_name == "map":
        _check_size(shape, value, path, found)
        for key, item in value.items():
            _walk(shape.key, key, f"{path} (key {key!r})", found)
            _walk(shape.value, item, f"{path}.{key}", found)
    elif shape.type_name == "string":
        _check_string(shape, value, path, found)
    elif shape.type_name in _NUMBERS:
        _check_range(shape, value, path, found)


def _walk_structure(shape: Any, value: dict[str, Any], path: str, found: list[Violation]) -> None:
    def joined(name: str) -> str:
        return f"{path}.{name}" if path else name

    for name in shape.required_members:
        if value.get(name) is None:
            found.append(Violation(path=joined(name), value=None, kind="required", shape=shape))
    for name, member_value in value.items():
        if name not in shape.members:
            found.append(Violation(path=joined(name), value=member_value, kind="unknown", shape=shape, limit=name))
        elif member_value is not None:
            _walk(shape.members[name], member_value, joined(name), found)


def _check_string(shape: Any, value: str, path: str, found: list[Violation]) -> None:
    _check_size(shape, value, path, found)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        found.append(Violation(path=path, value=value, kind="enum", shape=shape, limit=", ".join(enum)))
    pattern = shape.metadata.get("pattern")
    if pattern is not None and not matches_pattern(value, pattern):
        found.append(Violation(path=path, value=value, kind="pattern", shape=shape, limit=pattern))


def _check_size(shape: Any, value: Any, path: str, found: list[Violation]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        found.append(Violation(path=path, value=value, kind="min_length", shape=shape, limit=low))
    if high is not None and len(value) > high:
        found.append(Violation(path=path, value=value, kind="max_length", shape=shape, limit=high))


def _check_range(shape: Any, value: float, path: str, found: list[Violation]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        found.append(Violation(path=path, value=value, kind="min_value", shape=shape, limit=low))
    if high is not None and value > high:
        found.append(Violation(path=path, value=value, kind="max_value", shape=shape, limit=high))
