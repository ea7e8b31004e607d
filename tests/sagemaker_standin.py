"""A loopback-HTTP stand-in for the parts of SageMaker that shadow tests use.

The real ``boto3`` SageMaker client talks to :class:`SageMakerStandIn` exactly as
it talks to AWS (``json`` protocol 1.1: ``POST /`` with ``X-Amz-Target:
SageMaker.<Operation>``).  Point a client at it with ``endpoint_url=standin.url``
(or ``AWS_ENDPOINT_URL_SAGEMAKER``), dummy credentials and any region.

What it models:

* server-side validation of every request against botocore's own ``sagemaker``
  service model (members, required members, types, lengths, Java-regex
  patterns, enums, ranges, list/map sizes);
* inference experiments (create / describe / update / stop / delete / list)
  with a lifecycle that advances on ``DescribeInferenceExperiment`` calls;
* endpoints registered with :meth:`SageMakerStandIn.add_endpoint`, whose
  variants change as experiments run and stop;
* tags, and injected faults (throttling, server errors, dropped connections,
  slow answers, ...), plus an optional token-bucket rate limit.

Nothing listens on anything but ``127.0.0.1``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import json
import re
import socket
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

__all__ = [
    "FAULT_KINDS",
    "SUPPORTED_OPERATIONS",
    "SageMakerStandIn",
    "java_pattern_matches",
    "validate_params",
]

JsonDict = dict[str, Any]

SUPPORTED_OPERATIONS: frozenset[str] = frozenset(
    {
        "CreateInferenceExperiment",
        "DescribeInferenceExperiment",
        "UpdateInferenceExperiment",
        "StopInferenceExperiment",
        "DeleteInferenceExperiment",
        "ListInferenceExperiments",
        "DescribeEndpoint",
        "ListTags",
        "AddTags",
        "DeleteTags",
    }
)
"""Operations the stand-in implements; any other target gets ``UnknownOperationException``."""

TERMINAL_STATUSES = frozenset({"Completed", "Cancelled"})
DEFAULT_DURATION_SECONDS = 7 * 24 * 3600  # SageMaker's default experiment length
DEFAULT_LIST_PAGE_SIZE = 10
MAX_TAGS_PER_RESOURCE = 50
_JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
_TARGET_PREFIX = "SageMaker."
_LOOPBACK = "127.0.0.1"


@functools.cache
def sagemaker_model() -> ServiceModel:
    """botocore's ``sagemaker`` service model (loaded once)."""
    return botocore.session.get_session().get_service_model("sagemaker")


# --------------------------------------------------------------------------- #
# Java regular expressions
# --------------------------------------------------------------------------- #
# The service model's patterns are Java regexes, matched against the whole
# value.  Python's ``re`` lacks ``\p{..}`` classes, so a pattern using Unicode
# general categories is translated: every non-ASCII character of the value is
# replaced by a private-use placeholder standing for its major category, and
# ``\p{X}`` becomes "the ASCII characters of category X plus X's placeholder".

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

_JAVA_DOT = r"[^\n\r\x85\u2028\u2029]"  # Java's '.' excludes every line terminator
_SURROGATE_PAIR = re.compile(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", re.IGNORECASE)
_ANCHOR_QUANTIFIER = re.compile(r"\{(\d+)(,\d*)?\}")
_ASCII = [chr(code) for code in range(128)]
_UNSUPPORTED_ESCAPES = frozenset("QEGRXhHvVkZ")  # no faithful Python equivalent


class UnsupportedPatternError(ValueError):
    """A Java regex construct this translator does not handle."""


@dataclass(frozen=True)
class _JavaPattern:
    regex: re.Pattern[str]
    maps_categories: bool

    def fullmatch(self, value: str) -> bool:
        if self.maps_categories:
            value = "".join(_category_stand_in(char) for char in value)
        return self.regex.fullmatch(value) is not None


def _category_stand_in(char: str) -> str:
    if char.isascii():
        return char
    return _CATEGORY_PLACEHOLDERS[unicodedata.category(char)[0]]


def _class_body(chars: Iterable[str]) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in chars)


def _property_class_body(name: str) -> tuple[str, bool]:
    """Character-class body for ``\\p{name}``; second item: uses category placeholders."""
    if name.startswith("Is") and name[2:] in _CATEGORY_PLACEHOLDERS:
        name = name[2:]
    if name in _CATEGORY_PLACEHOLDERS:
        members = [c for c in _ASCII if unicodedata.category(c)[0] == name]
        return _class_body([*members, _CATEGORY_PLACEHOLDERS[name]]), True
    if name in _POSIX_CLASSES:
        return _class_body(c for c in _ASCII if _POSIX_CLASSES[name](c)), False
    raise UnsupportedPatternError(f"unsupported property class \\p{{{name}}}")


def translate_java_pattern(pattern: str) -> tuple[str, bool]:
    """Translate a Java regex to Python ``re`` syntax.

    Returns the translated pattern and whether values must have their non-ASCII
    characters mapped to category placeholders before matching.
    Raises :class:`UnsupportedPatternError` for constructs it cannot translate.
    """
    out: list[str] = []
    maps_categories = False
    in_class = False
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
    """Translate the escape at ``pattern[index]``; returns (token, next index, maps categories)."""
    following = pattern[index + 1 : index + 2]
    if following in ("p", "P") and pattern.startswith("{", index + 2):
        if following == "P":
            raise UnsupportedPatternError("negated property class \\P{..}")
        end = pattern.index("}", index)
        body, maps_categories = _property_class_body(pattern[index + 3 : end])
        return (body if in_class else f"[{body}]"), end + 1, maps_categories
    pair = _SURROGATE_PAIR.match(pattern, index)
    if pair:  # Java spells supplementary characters as UTF-16 surrogate pairs
        code_point = 0x10000 + ((int(pair[1], 16) - 0xD800) << 10) + (int(pair[2], 16) - 0xDC00)
        return f"\\U{code_point:08x}", pair.end(), False
    if following == "z":  # Java's end of input; Python spells it \Z
        return "\\Z", index + 2, False
    if following in _UNSUPPORTED_ESCAPES or pattern.startswith("x{", index + 1):
        raise UnsupportedPatternError(f"unsupported escape \\{following}")
    return pattern[index : index + 2], index + 2, False


def _skip_anchor_quantifier(pattern: str, index: int) -> int:
    """Java accepts a quantifier on an anchor (``${1,128}``); a mandatory one is a no-op."""
    quantifier = _ANCHOR_QUANTIFIER.match(pattern, index)
    if quantifier and int(quantifier[1]) >= 1:
        return quantifier.end()
    return index


@functools.cache
def compile_java_pattern(pattern: str) -> _JavaPattern:
    """Compile a service-model (Java) pattern for full matching."""
    translated, maps_categories = translate_java_pattern(pattern)
    try:
        regex = re.compile(translated, re.ASCII)
    except re.error as error:
        raise UnsupportedPatternError(f"{pattern!r}: {error}") from error
    return _JavaPattern(regex, maps_categories)


def java_pattern_matches(pattern: str, value: str) -> bool:
    """Whether ``value`` fully matches the Java regex ``pattern``.

    A pattern that cannot be translated is treated as matching everything, so
    the stand-in never rejects a value AWS might accept.
    """
    try:
        compiled = compile_java_pattern(pattern)
    except UnsupportedPatternError:
        return True
    return compiled.fullmatch(value)


# --------------------------------------------------------------------------- #
# Validation against the service model
# --------------------------------------------------------------------------- #


def validate_params(shape: Shape | None, params: Any) -> list[str]:
    """Check ``params`` against an input shape; returns one message per violation.

    Paths look like ``ModelVariants[1].InfrastructureConfig.RealTimeInferenceConfig.InstanceType``.
    """
    problems: list[str] = []
    if shape is None:
        if params:
            problems.append("Request takes no parameters")
        return problems
    _check_value(shape, params, "", problems)
    return problems


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _show(value: Any) -> str:
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _violation(path: str, value: Any, constraint: str) -> str:
    return f"Value {_show(value)} at '{path or '(request body)'}' failed to satisfy constraint: {constraint}"


_JSON_TYPES: dict[str, tuple[type, ...]] = {
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


def _has_type(shape: Shape, value: Any) -> bool:
    expected = _JSON_TYPES.get(shape.type_name, (object,))
    if isinstance(value, bool) and shape.type_name != "boolean":
        return False
    return isinstance(value, expected)


def _check_value(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not _has_type(shape, value):
        problems.append(_violation(path, value, f"Member must be of type {shape.type_name}"))
        return
    checker = _TYPE_CHECKERS.get(shape.type_name)
    if checker is not None:
        checker(shape, value, path, problems)


def _check_structure(shape: Shape, value: JsonDict, path: str, problems: list[str]) -> None:
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append(_violation(_join(path, name), None, "Member must not be null"))
    for name, member_value in value.items():
        member_path = _join(path, name)
        if name not in members:
            problems.append(
                f"Unknown member '{member_path}': {shape.name} has no member {name!r}; "
                f"valid members are {', '.join(members)}"
            )
        elif member_value is not None:
            _check_value(members[name], member_value, member_path, problems)


def _check_list(shape: Shape, value: list[Any], path: str, problems: list[str]) -> None:
    _check_size(shape, value, len(value), path, problems)
    for index, item in enumerate(value):
        _check_value(shape.member, item, f"{path}[{index}]", problems)


def _check_map(shape: Shape, value: JsonDict, path: str, problems: list[str]) -> None:
    _check_size(shape, value, len(value), path, problems)
    for key, item in value.items():
        _check_value(shape.key, key, f"{path} (key {key!r})", problems)
        _check_value(shape.value, item, f"{path}.{key}", problems)


def _check_string(shape: Shape, value: str, path: str, problems: list[str]) -> None:
    _check_size(shape, value, len(value), path, problems)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        problems.append(_violation(path, value, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
    pattern = shape.metadata.get("pattern")
    if pattern is not None and not java_pattern_matches(pattern, value):
        problems.append(_violation(path, value, f"Member must satisfy regular expression pattern: {pattern}"))


def _check_number(shape: Shape, value: float, path: str, problems: list[str]) -> None:
    minimum, maximum = shape.metadata.get("min"), shape.metadata.get("max")
    if minimum is not None and value < minimum:
        problems.append(_violation(path, value, f"Member must have value greater than or equal to {minimum}"))
    if maximum is not None and value > maximum:
        problems.append(_violation(path, value, f"Member must have value less than or equal to {maximum}"))


def _check_size(shape: Shape, value: Any, size: int, path: str, problems: list[str]) -> None:
    minimum, maximum = shape.metadata.get("min"), shape.metadata.get("max")
    if minimum is not None and size < minimum:
        problems.append(_violation(path, value, f"Member must have length greater than or equal to {minimum}"))
    if maximum is not None and size > maximum:
        problems.append(_violation(path, value, f"Member must have length less than or equal to {maximum}"))


_TYPE_CHECKERS: dict[str, Callable[[Shape, Any, str, list[str]], None]] = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_number,
    "long": _check_number,
    "float": _check_number,
    "double": _check_number,
}


def validation_message(problems: list[str]) -> str:
    """AWS-style summary of validation problems."""
    plural = "s" if len(problems) > 1 else ""
    return f"{len(problems)} validation error{plural} detected: " + "; ".join(problems)


# --------------------------------------------------------------------------- #
# Errors, faults, rate limiting
# --------------------------------------------------------------------------- #


class ApiError(Exception):
    """An error answer: HTTP ``status`` with body ``{"__type": code, "message": message}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _validation_error(message: str) -> ApiError:
    return ApiError("ValidationException", message)


@dataclass(frozen=True)
class _ErrorFault:
    status: int
    code: str
    default_message: str


_ERROR_FAULTS: dict[str, _ErrorFault] = {
    "throttle": _ErrorFault(400, "ThrottlingException", "Rate exceeded"),
    "server_error": _ErrorFault(500, "InternalFailure", "An internal error occurred."),
    "unavailable": _ErrorFault(503, "ServiceUnavailable", "Service is unavailable."),
    "conflict": _ErrorFault(400, "ConflictException", "A conflicting operation is in progress."),
    "access_denied": _ErrorFault(400, "AccessDeniedException", "User is not authorized to perform this action."),
    "resource_in_use": _ErrorFault(400, "ResourceInUse", "The resource is in use."),
}

FAULT_KINDS: frozenset[str] = frozenset({*_ERROR_FAULTS, "drop", "drop_after", "slow"})
"""Kinds accepted by :meth:`SageMakerStandIn.inject`."""


@dataclass
class _Fault:
    kind: str
    operation: str | None
    remaining: int
    delay: float
    message: str | None

    def applies_to(self, operation: str) -> bool:
        return self.remaining > 0 and self.operation in (None, operation)


class _TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, burst of ``max(1, rate)``."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate_limit_per_second must be positive")
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


# --------------------------------------------------------------------------- #
# State
# --------------------------------------------------------------------------- #


@dataclass
class _Endpoint:
    name: str
    arn: str
    production: list[JsonDict]
    shadow: list[JsonDict] = field(default_factory=list)
    tags: list[JsonDict] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)

    def variant_names(self) -> list[str]:
        return [variant["VariantName"] for variant in (*self.production, *self.shadow)]


@dataclass
class _StopPlan:
    actions: dict[str, str]
    desired_variants: list[JsonDict] | None
    desired_state: str
    reason: str | None


@dataclass
class _Lifecycle:
    """Private bookkeeping for one experiment (the public record stays API-shaped)."""

    sequence: int
    describes: int = 0
    resume_status: str = "Running"
    shadow_deployed: bool = False
    stop_plan: _StopPlan | None = None


@dataclass(frozen=True)
class _Reply:
    status: int = 200
    body: JsonDict | None = None
    drop: bool = False


def _drop_none(values: JsonDict) -> JsonDict:
    return {key: value for key, value in values.items() if value is not None}


def _endpoint_variant(config: JsonDict) -> JsonDict:
    """An endpoint variant from a ``ModelVariantConfig``."""
    real_time = config["InfrastructureConfig"]["RealTimeInferenceConfig"]
    return {
        "VariantName": config["VariantName"],
        "ModelName": config["ModelName"],
        "InstanceType": real_time["InstanceType"],
        "InstanceCount": real_time["InstanceCount"],
    }


def _variant_summary(variant: JsonDict) -> JsonDict:
    count = variant.get("InstanceCount", 1)
    return {
        "VariantName": variant["VariantName"],
        "CurrentWeight": 1.0,
        "DesiredWeight": 1.0,
        "CurrentInstanceCount": count,
        "DesiredInstanceCount": count,
    }


def _next_status(record: JsonDict, lifecycle: _Lifecycle, now: float) -> str | None:
    """The status ``record`` moves to on its next step, or None while it must stay put."""
    status, schedule = record["Status"], record["Schedule"]
    start, end = schedule.get("StartTime", now), schedule.get("EndTime", float("inf"))
    if status == "Creating":
        return "Created" if start > now else "Starting"
    if status == "Created":
        return "Starting" if start <= now else None
    if status == "Starting":
        return "Running"
    if status == "Updating":
        return lifecycle.resume_status
    if status == "Running":
        return "Completed" if end <= now else None
    if status == "Stopping" and lifecycle.stop_plan is not None:
        return lifecycle.stop_plan.desired_state
    return None


def _replace_variant(variants: list[JsonDict], name: str, replacements: list[JsonDict]) -> list[JsonDict]:
    """``variants`` with the one called ``name`` replaced (in place) by ``replacements``."""
    names = [variant["VariantName"] for variant in variants]
    if name not in names:
        return [*variants, *replacements]
    index = names.index(name)
    return [*variants[:index], *replacements, *variants[index + 1 :]]


def _shadow_variant_name(record: JsonDict) -> str:
    return record["ShadowModeConfig"]["ShadowModelVariants"][0]["ShadowModelVariantName"]


def _source_variant_name(record: JsonDict) -> str:
    return record["ShadowModeConfig"]["SourceModelVariantName"]


# --------------------------------------------------------------------------- #
# The stand-in
# --------------------------------------------------------------------------- #


class SageMakerStandIn:
    """SageMaker inference-experiment API served on ``127.0.0.1`` for the real boto3 client.

    Lifecycle: an experiment reports each transitional status for
    ``steps_per_transition`` ``DescribeInferenceExperiment`` calls and then
    moves on (Creating → Starting → Running, or Creating → Created while its
    start time is in the future; Updating → back to Created/Running;
    Stopping → the requested final state; Running past its end time →
    Completed).  Experiment times and schedules follow ``clock`` (``time.time``
    unless a test passes a simulated clock); the rate limit uses real time.

    Stop and delete follow the documented lifecycle as conservatively as the
    API reference allows: ``StopInferenceExperiment`` is accepted only while an
    experiment is ``Created`` or ``Running`` (like ``UpdateInferenceExperiment``,
    whose documentation says so) and ``DeleteInferenceExperiment`` only once it
    is ``Completed`` or ``Cancelled``; both refuse otherwise.
    """

    def __init__(
        self,
        *,
        account: str = "123456789012",
        region: str = "us-east-1",
        steps_per_transition: int = 1,
        rate_limit_per_second: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if steps_per_transition < 1:
            raise ValueError("steps_per_transition must be at least 1")
        self.account = account
        self.region = region
        self.steps_per_transition = steps_per_transition
        self.clock = clock
        """Epoch seconds for experiment times and schedules (a simulated clock in tests that skip time)."""
        self.experiments: dict[str, JsonDict] = {}
        """Experiment name → record (API-shaped: Status, Arn, ModelVariants, Schedule, Tags, ...)."""
        self.calls: list[tuple[str, JsonDict]] = []
        """Every request that reached the stand-in, in order, as (operation, params)."""
        self.url = ""
        self._lock = threading.RLock()
        self._endpoints: dict[str, _Endpoint] = {}
        self._lifecycles: dict[str, _Lifecycle] = {}
        self._sequence = 0
        self._faults: list[_Fault] = []
        self._cancel_reasons: list[str] = []
        self._hung_statuses: set[str] = set()
        self._bucket = _TokenBucket(rate_limit_per_second) if rate_limit_per_second else None
        self._stopping = threading.Event()
        self._server: _StandInServer | None = None
        self._thread: threading.Thread | None = None
        self._operations: dict[str, Callable[[JsonDict], JsonDict]] = {
            "CreateInferenceExperiment": self._create_experiment,
            "DescribeInferenceExperiment": self._describe_experiment,
            "UpdateInferenceExperiment": self._update_experiment,
            "StopInferenceExperiment": self._stop_experiment,
            "DeleteInferenceExperiment": self._delete_experiment,
            "ListInferenceExperiments": self._list_experiments,
            "DescribeEndpoint": self._describe_endpoint,
            "ListTags": self._list_tags,
            "AddTags": self._add_tags,
            "DeleteTags": self._delete_tags,
        }

    # -- server lifecycle ---------------------------------------------------

    def start(self) -> SageMakerStandIn:
        """Start serving on an ephemeral loopback port; sets :attr:`url`."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _StandInServer(self)
        port = self._server.server_port
        self.url = f"http://{_LOOPBACK}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"sagemaker-standin-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every client connection and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SageMakerStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test controls ------------------------------------------------------

    def add_endpoint(self, name: str, variants: list[dict[str, Any]]) -> None:
        """Register an ``InService`` endpoint with production ``variants``.

        Each variant: ``{"VariantName", "ModelName", "InstanceType", "InstanceCount"}``.
        """
        if not variants:
            raise ValueError("an endpoint needs at least one production variant")
        production = [
            {"InstanceType": "ml.m5.large", "InstanceCount": 1, **copy.deepcopy(variant)} for variant in variants
        ]
        with self._lock:
            self._endpoints[name] = _Endpoint(name, self._arn("endpoint", name), production)

    def endpoint_variants(self, name: str) -> list[str]:
        """Names of the variants on endpoint ``name``: production ones, then shadow ones."""
        with self._lock:
            return self._endpoints[name].variant_names()

    def endpoint_config(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Copy of endpoint ``name``'s variants: ``{"ProductionVariants": [...], "ShadowProductionVariants": [...]}``."""
        with self._lock:
            endpoint = self._endpoints[name]
            return copy.deepcopy(
                {"ProductionVariants": endpoint.production, "ShadowProductionVariants": endpoint.shadow}
            )

    def calls_of(self, operation: str) -> list[dict[str, Any]]:
        """Params of every recorded call of ``operation``, in order."""
        with self._lock:
            return [params for name, params in self.calls if name == operation]

    def inject(
        self,
        kind: str,
        *,
        operation: str | None = None,
        count: int = 1,
        delay: float = 0.0,
        message: str | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``operation`` (any if None) fail as ``kind``.

        Kinds: ``throttle`` (400 ThrottlingException), ``server_error`` (500
        InternalFailure), ``unavailable`` (503 ServiceUnavailable), ``drop``
        (close the connection without answering), ``drop_after`` (perform the
        operation, then close the connection without answering: a lost
        response, after which a client's retry meets the changed state), ``slow`` (wait ``delay``
        seconds, then answer normally), ``conflict`` (400 ConflictException),
        ``access_denied`` (400 AccessDeniedException) and ``resource_in_use``
        (400 ResourceInUse).  ``message`` overrides the error message.
        Faults are consumed in the order they were injected.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(_Fault(kind, operation, count, delay, message))

    def pending_faults(self) -> int:
        """How many injected faults have not been met yet."""
        with self._lock:
            return sum(fault.remaining for fault in self._faults)

    def cancel_next_start(self, reason: str) -> None:
        """The next experiment that would become Running ends ``Cancelled`` with ``reason``."""
        with self._lock:
            self._cancel_reasons.append(reason)

    def hang_in(self, status: str) -> None:
        """Experiments in ``status`` (e.g. ``"Starting"``) stop advancing until :meth:`reset_faults`."""
        statuses = sagemaker_model().shape_for("InferenceExperimentStatus").enum
        if status not in statuses:
            raise ValueError(f"unknown status {status!r}; expected one of {statuses}")
        with self._lock:
            self._hung_statuses.add(status)

    def reset_faults(self) -> None:
        """Forget injected faults, pending cancellations and hung statuses."""
        with self._lock:
            self._faults.clear()
            self._cancel_reasons.clear()
            self._hung_statuses.clear()

    # -- request handling ---------------------------------------------------

    def handle_request(self, target: str, body: bytes) -> _Reply:
        """Answer one ``json``-protocol request (called by the HTTP handler)."""
        operation = target.removeprefix(_TARGET_PREFIX)
        try:
            params = self._parse_body(body)
        except ApiError as error:
            self._record(operation, {})
            return self._error_reply(error)
        fault = self._record_and_take_fault(operation, params)
        if fault is not None and fault.kind not in ("slow", "drop_after"):
            return self._fault_reply(fault, operation)
        if fault is not None:
            self._stopping.wait(fault.delay)
        try:
            body = self._answer(target, operation, params)
            return _Reply(drop=True) if fault is not None and fault.kind == "drop_after" else _Reply(body=body)
        except ApiError as error:
            return self._error_reply(error)
        except Exception as error:  # a stand-in bug must not look like a dropped connection
            return self._error_reply(ApiError("InternalFailure", f"stand-in error: {error!r}", 500))

    @staticmethod
    def _parse_body(body: bytes) -> JsonDict:
        try:
            params = json.loads(body or b"{}")
        except ValueError as error:
            raise ApiError("SerializationException", f"Request body is not JSON: {error}") from error
        if not isinstance(params, dict):
            raise ApiError("SerializationException", "Request body must be a JSON object")
        return params

    def _record(self, operation: str, params: JsonDict) -> None:
        with self._lock:
            self.calls.append((operation, params))

    def _record_and_take_fault(self, operation: str, params: JsonDict) -> _Fault | None:
        with self._lock:
            self.calls.append((operation, params))
            for fault in self._faults:
                if fault.applies_to(operation):
                    fault.remaining -= 1
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    return fault
            return None

    def _fault_reply(self, fault: _Fault, operation: str) -> _Reply:
        if fault.kind == "drop":
            return _Reply(drop=True)
        spec = _ERROR_FAULTS[fault.kind]
        message = fault.message or spec.default_message
        if fault.kind == "access_denied" and fault.message is None:
            message = f"User is not authorized to perform: sagemaker:{operation}"
        return self._error_reply(ApiError(spec.code, message, spec.status))

    @staticmethod
    def _error_reply(error: ApiError) -> _Reply:
        return _Reply(error.status, {"__type": error.code, "message": error.message})

    def _answer(self, target: str, operation: str, params: JsonDict) -> JsonDict:
        with self._lock:
            if self._bucket is not None and not self._bucket.take():
                raise ApiError("ThrottlingException", "Rate exceeded")
        if not target.startswith(_TARGET_PREFIX) or operation not in self._operations:
            raise ApiError("UnknownOperationException", f"Operation {target!r} is not supported by the stand-in")
        operation_model: OperationModel = sagemaker_model().operation_model(operation)
        problems = validate_params(operation_model.input_shape, params)
        if problems:
            raise _validation_error(validation_message(problems))
        with self._lock:
            # Copies in and out: the answer is serialized after the lock is released.
            return copy.deepcopy(self._operations[operation](copy.deepcopy(params)))

    # -- helpers ------------------------------------------------------------

    def _arn(self, resource: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{resource}/{name.lower()}"

    def _experiment(self, name: str) -> JsonDict:
        record = self.experiments.get(name)
        if record is None:
            raise ApiError("ResourceNotFound", f"Inference experiment {name!r} does not exist.")
        return record

    def _endpoint(self, name: str) -> _Endpoint:
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            raise _validation_error(f'Could not find endpoint "{self._arn("endpoint", name)}".')
        return endpoint

    def _lifecycle(self, name: str) -> _Lifecycle:
        lifecycle = self._lifecycles.get(name)
        if lifecycle is None:  # a record planted directly in ``experiments``
            lifecycle = self._lifecycles[name] = _Lifecycle(self._next_sequence())
        return lifecycle

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    # -- CreateInferenceExperiment -----------------------------------------

    def _create_experiment(self, params: JsonDict) -> JsonDict:
        name = params["Name"]
        endpoint = self._endpoint(params["EndpointName"])
        if name in self.experiments:
            raise ApiError("ResourceInUse", f"Inference experiment {name!r} already exists.")
        active = self._active_experiment_on(endpoint.name)
        if active is not None:
            raise ApiError(
                "ResourceInUse",
                f"Endpoint {endpoint.name!r} already has an active inference experiment "
                f"{active['Name']!r} (status {active['Status']}).",
            )
        self._check_variants(params, endpoint)
        now = self.clock()
        self.experiments[name] = {
            "Name": name,
            "Arn": self._arn("inference-experiment", name),
            "Type": params["Type"],
            "Status": "Creating",
            "StatusReason": None,
            "EndpointName": endpoint.name,
            "ModelVariants": params["ModelVariants"],
            "ShadowModeConfig": params["ShadowModeConfig"],
            "Schedule": self._initial_schedule(params.get("Schedule") or {}, now),
            "Description": params.get("Description"),
            "DataStorageConfig": params.get("DataStorageConfig"),
            "KmsKey": params.get("KmsKey"),
            "RoleArn": params["RoleArn"],
            "Tags": params.get("Tags") or [],
            "CreationTime": now,
            "LastModifiedTime": now,
            "CompletionTime": None,
        }
        self._lifecycles[name] = _Lifecycle(self._next_sequence())
        return {"InferenceExperimentArn": self.experiments[name]["Arn"]}

    def _check_variants(self, params: JsonDict, endpoint: _Endpoint) -> None:
        names = [variant["VariantName"] for variant in params["ModelVariants"]]
        if len(set(names)) != len(names):
            raise _validation_error(f"ModelVariants has duplicate variant names: {names}")
        shadow_config = params["ShadowModeConfig"]
        source = shadow_config["SourceModelVariantName"]
        shadows = [v["ShadowModelVariantName"] for v in shadow_config["ShadowModelVariants"]]
        if source not in names:
            raise _validation_error(f"SourceModelVariantName {source!r} is not one of ModelVariants {names}.")
        production_names = [variant["VariantName"] for variant in endpoint.production]
        if source not in production_names:
            raise _validation_error(
                f"Variant {source!r} is not a production variant of endpoint {endpoint.name!r} "
                f"(variants: {production_names})."
            )
        if len(shadows) != 1:
            raise _validation_error("ShadowModeConfig must have exactly one shadow variant.")
        shadow = shadows[0]
        if shadow == source or shadow not in names:
            raise _validation_error(
                f"ShadowModelVariantName {shadow!r} must be one of ModelVariants {names} "
                f"and differ from the source variant {source!r}."
            )
        if shadow in endpoint.variant_names():
            raise _validation_error(f"Variant {shadow!r} already exists on endpoint {endpoint.name!r}.")
        if sorted(names) != sorted([source, shadow]):
            raise _validation_error(f"ModelVariants {names} must be exactly the source variant and the shadow variant.")

    def _active_experiment_on(self, endpoint_name: str) -> JsonDict | None:
        for record in self.experiments.values():
            if record["EndpointName"] == endpoint_name and record["Status"] not in TERMINAL_STATUSES:
                return record
        return None

    @staticmethod
    def _initial_schedule(schedule: JsonDict, now: float) -> JsonDict:
        start = float(schedule.get("StartTime", now))
        end = float(schedule.get("EndTime", start + DEFAULT_DURATION_SECONDS))
        if end <= start:
            raise _validation_error("Schedule.EndTime must be after Schedule.StartTime.")
        return {"StartTime": start, "EndTime": end}

    # -- DescribeInferenceExperiment and the lifecycle ---------------------

    def _describe_experiment(self, params: JsonDict) -> JsonDict:
        name = params["Name"]
        record = self._experiment(name)
        response = self._describe_response(record)
        lifecycle = self._lifecycle(name)
        lifecycle.describes += 1
        if lifecycle.describes >= self.steps_per_transition and self._advance(record, lifecycle):
            lifecycle.describes = 0
        return response

    def _describe_response(self, record: JsonDict) -> JsonDict:
        endpoint = self._endpoints.get(record["EndpointName"])
        return _drop_none(
            {
                "Arn": record["Arn"],
                "Name": record["Name"],
                "Type": record["Type"],
                "Schedule": record["Schedule"],
                "Status": record["Status"],
                "StatusReason": record["StatusReason"],
                "Description": record["Description"],
                "CreationTime": record["CreationTime"],
                "CompletionTime": record["CompletionTime"],
                "LastModifiedTime": record["LastModifiedTime"],
                "RoleArn": record["RoleArn"],
                "EndpointMetadata": {
                    "EndpointName": record["EndpointName"],
                    "EndpointConfigName": f"{record['EndpointName']}-config",
                    "EndpointStatus": "InService" if endpoint else "OutOfService",
                },
                "ModelVariants": [
                    {**variant, "Status": self._variant_status(record, variant["VariantName"])}
                    for variant in record["ModelVariants"]
                ],
                "DataStorageConfig": record["DataStorageConfig"],
                "ShadowModeConfig": record["ShadowModeConfig"],
                "KmsKey": record["KmsKey"],
            }
        )

    @staticmethod
    def _variant_status(record: JsonDict, variant_name: str) -> str:
        if variant_name == _source_variant_name(record):
            return "InService"
        return {
            "Creating": "Creating",
            "Created": "Creating",
            "Starting": "Creating",
            "Running": "InService",
            "Updating": "Updating",
            "Stopping": "Deleting",
        }.get(record["Status"], "Deleted")

    def _advance(self, record: JsonDict, lifecycle: _Lifecycle) -> bool:
        """Move ``record`` one lifecycle step if it is due; returns whether it moved."""
        status = record["Status"]
        if status in self._hung_statuses:
            return False
        now = self.clock()
        next_status = _next_status(record, lifecycle, now)
        if next_status is None:
            return False
        self._enter(record, lifecycle, status, next_status, now)
        return True

    def _enter(self, record: JsonDict, lifecycle: _Lifecycle, previous: str, status: str, now: float) -> None:
        endpoint = self._endpoints.get(record["EndpointName"])
        if previous == "Starting" and self._cancel_reasons:
            status = "Cancelled"
            record["StatusReason"] = self._cancel_reasons.pop(0)
        elif status == "Running" and endpoint is not None:
            self._deploy_shadow(record, lifecycle, endpoint)
        elif previous == "Running" and status == "Completed" and endpoint is not None:
            self._withdraw_shadow(record, lifecycle, endpoint)
        elif previous == "Stopping" and lifecycle.stop_plan is not None:
            self._finish_stop(record, lifecycle, lifecycle.stop_plan, endpoint)
        record["Status"] = status
        record["LastModifiedTime"] = now
        if status in TERMINAL_STATUSES:
            record["CompletionTime"] = now

    def _deploy_shadow(self, record: JsonDict, lifecycle: _Lifecycle, endpoint: _Endpoint) -> None:
        shadow_name = _shadow_variant_name(record)
        config = next(v for v in record["ModelVariants"] if v["VariantName"] == shadow_name)
        endpoint.shadow = [v for v in endpoint.shadow if v["VariantName"] != shadow_name]
        endpoint.shadow.append(_endpoint_variant(config))
        endpoint.modified = self.clock()
        lifecycle.shadow_deployed = True

    def _withdraw_shadow(self, record: JsonDict, lifecycle: _Lifecycle, endpoint: _Endpoint) -> None:
        shadow_name = _shadow_variant_name(record)
        endpoint.shadow = [v for v in endpoint.shadow if v["VariantName"] != shadow_name]
        endpoint.modified = self.clock()
        lifecycle.shadow_deployed = False

    def _finish_stop(
        self, record: JsonDict, lifecycle: _Lifecycle, plan: _StopPlan, endpoint: _Endpoint | None
    ) -> None:
        if plan.reason is not None:
            record["StatusReason"] = plan.reason
        if endpoint is None or not lifecycle.shadow_deployed:
            return
        shadow_name, source_name = _shadow_variant_name(record), _source_variant_name(record)
        shadow_variant = next((v for v in endpoint.shadow if v["VariantName"] == shadow_name), None)
        self._withdraw_shadow(record, lifecycle, endpoint)
        shadow_action = plan.actions.get(shadow_name, "Remove")
        if shadow_action == "Retain" and shadow_variant is not None:
            endpoint.production.append(shadow_variant)
        elif shadow_action == "Promote":
            promoted = [_endpoint_variant(config) for config in plan.desired_variants or []]
            endpoint.production = _replace_variant(endpoint.production, source_name, promoted)

    # -- UpdateInferenceExperiment -----------------------------------------

    def _update_experiment(self, params: JsonDict) -> JsonDict:
        name = params["Name"]
        record = self._experiment(name)
        status = record["Status"]
        if status not in ("Created", "Running"):
            raise ApiError(
                "ConflictException",
                f"Inference experiment {name!r} is {status}; it can only be updated while Created or Running.",
            )
        schedule = self._updated_schedule(record, params.get("Schedule"))
        shadow_config = self._updated_shadow_config(record, params.get("ShadowModeConfig"))
        model_variants = self._updated_model_variants(record, params.get("ModelVariants"))
        record["Schedule"] = schedule
        record["ShadowModeConfig"] = shadow_config
        record["ModelVariants"] = model_variants
        for key in ("Description", "DataStorageConfig"):
            if key in params:
                record[key] = params[key]
        lifecycle = self._lifecycle(name)
        lifecycle.resume_status = status
        lifecycle.describes = 0
        record["Status"] = "Updating"
        record["LastModifiedTime"] = self.clock()
        self._refresh_deployed_shadow(record, lifecycle)
        return {"InferenceExperimentArn": record["Arn"]}

    @staticmethod
    def _updated_schedule(record: JsonDict, schedule: JsonDict | None) -> JsonDict:
        current = record["Schedule"]
        if not schedule:
            return current
        start = float(schedule.get("StartTime", current["StartTime"]))
        end = float(schedule.get("EndTime", current["EndTime"]))
        if record["Status"] == "Running" and start != current["StartTime"]:
            raise _validation_error(
                "Schedule.StartTime cannot be changed while the experiment is Running; only Schedule.EndTime can."
            )
        if end <= start:
            raise _validation_error("Schedule.EndTime must be after Schedule.StartTime.")
        return {"StartTime": start, "EndTime": end}

    @staticmethod
    def _updated_shadow_config(record: JsonDict, config: JsonDict | None) -> JsonDict:
        if config is None:
            return record["ShadowModeConfig"]
        names = (config["SourceModelVariantName"], config["ShadowModelVariants"][0]["ShadowModelVariantName"])
        if names != (_source_variant_name(record), _shadow_variant_name(record)):
            raise _validation_error(
                "ShadowModeConfig cannot change the source or shadow variant of an experiment; "
                "only SamplingPercentage can be updated."
            )
        return config

    @staticmethod
    def _updated_model_variants(record: JsonDict, variants: list[JsonDict] | None) -> list[JsonDict]:
        if variants is None:
            return record["ModelVariants"]
        old_names = sorted(v["VariantName"] for v in record["ModelVariants"])
        new_names = sorted(v["VariantName"] for v in variants)
        if old_names != new_names:
            raise _validation_error(f"ModelVariants must keep the experiment's variants {old_names}; got {new_names}.")
        return variants

    def _refresh_deployed_shadow(self, record: JsonDict, lifecycle: _Lifecycle) -> None:
        endpoint = self._endpoints.get(record["EndpointName"])
        if lifecycle.shadow_deployed and endpoint is not None:
            self._deploy_shadow(record, lifecycle, endpoint)

    # -- StopInferenceExperiment -------------------------------------------

    def _stop_experiment(self, params: JsonDict) -> JsonDict:
        name = params["Name"]
        record = self._experiment(name)
        if record["Status"] not in ("Created", "Running"):
            raise _validation_error(
                f"Inference experiment {name!r} is {record['Status']}; it can only be stopped while Created or Running."
            )
        actions = self._checked_actions(record, params["ModelVariantActions"])
        if "Promote" in actions.values() and not params.get("DesiredModelVariants"):
            raise _validation_error("DesiredModelVariants is required when a ModelVariantAction is Promote.")
        lifecycle = self._lifecycle(name)
        lifecycle.stop_plan = _StopPlan(
            actions=actions,
            desired_variants=params.get("DesiredModelVariants"),
            desired_state=params.get("DesiredState", "Completed"),
            reason=params.get("Reason"),
        )
        lifecycle.describes = 0
        record["Status"] = "Stopping"
        record["LastModifiedTime"] = self.clock()
        return {"InferenceExperimentArn": record["Arn"]}

    @staticmethod
    def _checked_actions(record: JsonDict, actions: dict[str, str]) -> dict[str, str]:
        source, shadow = _source_variant_name(record), _shadow_variant_name(record)
        unknown = sorted(set(actions) - {source, shadow})
        if unknown:
            raise _validation_error(
                f"ModelVariantActions names {unknown}, which are not variants of inference "
                f"experiment {record['Name']!r} (variants: {[source, shadow]})."
            )
        source_action = actions.get(source, "Retain")
        shadow_action = actions.get(shadow, "Remove")
        if source_action == "Promote":
            raise _validation_error(
                f"The production variant {source!r} cannot be promoted; only the shadow variant can."
            )
        if (source_action == "Remove") != (shadow_action == "Promote"):
            raise _validation_error(
                "Promoting the shadow variant requires removing the production variant, and the "
                "production variant can only be removed when the shadow variant is promoted."
            )
        return {source: source_action, shadow: shadow_action}

    # -- DeleteInferenceExperiment -----------------------------------------

    def _delete_experiment(self, params: JsonDict) -> JsonDict:
        name = params["Name"]
        record = self._experiment(name)
        if record["Status"] not in TERMINAL_STATUSES:
            raise _validation_error(
                f"Inference experiment {name!r} is {record['Status']}; only Completed or "
                "Cancelled experiments can be deleted."
            )
        del self.experiments[name]
        self._lifecycles.pop(name, None)
        return {"InferenceExperimentArn": record["Arn"]}

    # -- ListInferenceExperiments ------------------------------------------

    def _list_experiments(self, params: JsonDict) -> JsonDict:
        records = [r for r in self.experiments.values() if self._list_filter(r, params)]
        sort_by = params.get("SortBy", "CreationTime")
        records.sort(
            key=lambda r: (r[sort_by], self._lifecycle(r["Name"]).sequence),
            reverse=params.get("SortOrder", "Descending") == "Descending",
        )
        start = _decode_token(params.get("NextToken"), len(records))
        end = start + params.get("MaxResults", DEFAULT_LIST_PAGE_SIZE)
        summaries = [self._summary(record) for record in records[start:end]]
        next_token = _encode_token(end) if end < len(records) else None
        return _drop_none({"InferenceExperiments": summaries, "NextToken": next_token})

    @staticmethod
    def _list_filter(record: JsonDict, params: JsonDict) -> bool:
        checks = (
            params.get("NameContains", "") in record["Name"],
            params.get("StatusEquals", record["Status"]) == record["Status"],
            params.get("Type", record["Type"]) == record["Type"],
            record["CreationTime"] > params.get("CreationTimeAfter", float("-inf")),
            record["CreationTime"] < params.get("CreationTimeBefore", float("inf")),
            record["LastModifiedTime"] > params.get("LastModifiedTimeAfter", float("-inf")),
            record["LastModifiedTime"] < params.get("LastModifiedTimeBefore", float("inf")),
        )
        return all(checks)

    @staticmethod
    def _summary(record: JsonDict) -> JsonDict:
        keys = (
            "Name", "Type", "Schedule", "Status", "StatusReason", "Description",
            "CreationTime", "CompletionTime", "LastModifiedTime", "RoleArn",
        )  # fmt: skip
        return _drop_none({key: record[key] for key in keys})

    # -- DescribeEndpoint --------------------------------------------------

    def _describe_endpoint(self, params: JsonDict) -> JsonDict:
        endpoint = self._endpoint(params["EndpointName"])
        return _drop_none(
            {
                "EndpointName": endpoint.name,
                "EndpointArn": endpoint.arn,
                "EndpointConfigName": f"{endpoint.name}-config",
                "EndpointStatus": "InService",
                "ProductionVariants": [_variant_summary(v) for v in endpoint.production],
                "ShadowProductionVariants": [_variant_summary(v) for v in endpoint.shadow] or None,
                "CreationTime": endpoint.created,
                "LastModifiedTime": endpoint.modified,
            }
        )

    # -- Tags -----------------------------------------------------------------

    def _tags_of(self, arn: str) -> list[JsonDict]:
        for record in self.experiments.values():
            if record["Arn"] == arn:
                return record["Tags"]
        for endpoint in self._endpoints.values():
            if endpoint.arn == arn:
                return endpoint.tags
        raise _validation_error(f"Resource {arn} does not exist.")

    def _list_tags(self, params: JsonDict) -> JsonDict:
        tags = self._tags_of(params["ResourceArn"])
        start = _decode_token(params.get("NextToken"), len(tags))
        end = start + params.get("MaxResults", MAX_TAGS_PER_RESOURCE)
        next_token = _encode_token(end) if end < len(tags) else None
        return _drop_none({"Tags": copy.deepcopy(tags[start:end]), "NextToken": next_token})

    def _add_tags(self, params: JsonDict) -> JsonDict:
        tags = self._tags_of(params["ResourceArn"])
        merged = {tag["Key"]: tag for tag in tags}
        merged.update({tag["Key"]: tag for tag in params["Tags"]})
        if len(merged) > MAX_TAGS_PER_RESOURCE:
            raise ApiError(
                "ResourceLimitExceeded",
                f"A resource can have at most {MAX_TAGS_PER_RESOURCE} tags.",
            )
        tags[:] = merged.values()
        return {"Tags": params["Tags"]}

    def _delete_tags(self, params: JsonDict) -> JsonDict:
        tags = self._tags_of(params["ResourceArn"])
        tags[:] = [tag for tag in tags if tag["Key"] not in set(params["TagKeys"])]
        return {}


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str | None, total: int) -> int:
    if token is None:
        return 0
    try:
        prefix, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        value = int(offset)
    except ValueError:
        value = -1
        prefix = ""
    if prefix != "offset" or not 0 <= value <= total:
        raise _validation_error(f"Invalid pagination token {token!r}.")
    return value


# --------------------------------------------------------------------------- #
# HTTP plumbing
# --------------------------------------------------------------------------- #


class _StandInServer(ThreadingHTTPServer):
    """Threaded HTTP server on 127.0.0.1 that tracks its client connections."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, standin: SageMakerStandIn) -> None:
        super().__init__((_LOOPBACK, 0), _StandInHandler)
        self.standin = standin
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def forget(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every open client connection so handler threads exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (or :meth:`SageMakerStandIn.stop`) are not errors worth printing."""


class _StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _StandInServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.forget(self.connection)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        reply = self.server.standin.handle_request(target, body)
        if reply.drop:
            self._hang_up()
            return
        payload = json.dumps(reply.body or {}).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", _JSON_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
