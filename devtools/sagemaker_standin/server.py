"""The SageMaker stand-in's server: loopback HTTP, request validation, injected faults.

The real ``boto3`` SageMaker client talks to it exactly as it talks to AWS (``json`` protocol
1.1: ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>``). Point a client at it with
``endpoint_url=standin.url`` (or ``AWS_ENDPOINT_URL_SAGEMAKER``), dummy credentials and any
region. Nothing listens on anything but ``127.0.0.1``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devtools.sagemaker_standin.experiments import InferenceExperiments
from devtools.sagemaker_standin.faults import (
    ERROR_FAULTS,
    FAULT_KINDS,
    ApiError,
    Fault,
    TokenBucket,
    invalid_request,
    role_not_assumable,
)
from devtools.sagemaker_standin.records import JsonDict
from shadow_test_core.experiment.service_model import input_problems, service_model

#: Operations the stand-in implements: those the handler and the ``shadow-test`` CLI call.
SUPPORTED_OPERATIONS: frozenset[str] = frozenset(InferenceExperiments.OPERATIONS)
_JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
_TARGET_PREFIX = "SageMaker."
_LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class _Reply:
    status: int = 200
    body: JsonDict | None = None
    drop: bool = False


class SageMakerStandIn:
    """SageMaker's inference-experiment API on ``127.0.0.1``, for the real boto3 client.

    Serves only what the handler and the ``shadow-test`` CLI call (:data:`SUPPORTED_OPERATIONS`);
    any other target is an ``UnknownOperationException``. Every request is checked against
    botocore's model by ``shadow_test_core.experiment.service_model.input_problems`` (the walker the library
    and the handler use) before :class:`InferenceExperiments` answers it. Experiment times follow
    ``clock`` (``time.time`` unless a test passes a simulated clock); the rate limit uses real time.
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
        self.service = InferenceExperiments(
            account=account, region=region, steps_per_transition=steps_per_transition, clock=clock
        )
        self.calls: list[tuple[str, JsonDict]] = []
        """Every request that reached the stand-in, in order, as (operation, params)."""
        self.url = ""
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._bucket = TokenBucket(rate_limit_per_second) if rate_limit_per_second else None
        self._stopping = threading.Event()
        self._server: _StandInServer | None = None
        self._thread: threading.Thread | None = None
        self._operations = self.service.operations()

    @property
    def experiments(self) -> dict[str, JsonDict]:
        """Experiment name -> record (API-shaped: Status, Arn, ModelVariants, Schedule, Tags, ...)."""
        return self.service.experiments

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
            self.service.add_endpoint(name, production)

    def endpoint_variants(self, name: str) -> list[str]:
        """Names of the variants on endpoint ``name``: production ones, then shadow ones."""
        with self._lock:
            return self.service.endpoints[name].variant_names()

    def endpoint_config(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Copy of endpoint ``name``'s variants: ``{"ProductionVariants": [...], "ShadowProductionVariants": [...]}``."""
        with self._lock:
            endpoint = self.service.endpoints[name]
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
        seconds, then answer normally), ``access_denied`` (400 AccessDeniedException),
        ``invalid`` (400 ValidationException) and ``role_not_assumable`` (the
        ValidationException SageMaker answers for a role it cannot assume, naming the
        request's ``RoleArn``; see also :meth:`refuse_roles_for`).
        ``message`` overrides the error message.
        Faults are consumed in the order they were injected.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(Fault(kind, operation, count, delay, message))

    def pending_faults(self) -> int:
        """How many injected faults have not been met yet."""
        with self._lock:
            return sum(fault.remaining for fault in self._faults)

    def cancel_next_start(self, reason: str) -> None:
        """The next experiment that would become Running ends ``Cancelled`` with ``reason``."""
        with self._lock:
            self.service.cancel_reasons.append(reason)

    def refuse_roles_for(self, seconds: float) -> None:
        """For ``seconds`` of the stand-in's clock from now, refuse every role a create passes.

        As SageMaker does while IAM has not yet propagated a role created moments before.
        """
        with self._lock:
            self.service.roles_assumable_at = self.service.clock() + seconds

    def hang_in(self, status: str) -> None:
        """Experiments in ``status`` (e.g. ``"Starting"``) stop advancing until :meth:`reset_faults`."""
        statuses = service_model().shape_for("InferenceExperimentStatus").enum
        if status not in statuses:
            raise ValueError(f"unknown status {status!r}; expected one of {statuses}")
        with self._lock:
            self.service.hung_statuses.add(status)

    def reset_faults(self) -> None:
        """Forget injected faults, pending cancellations, hung statuses and refused roles."""
        with self._lock:
            self._faults.clear()
            self.service.cancel_reasons.clear()
            self.service.hung_statuses.clear()
            self.service.roles_assumable_at = None

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
            return self._fault_reply(fault, operation, params)
        if fault is not None:
            self._stopping.wait(fault.delay)
        try:
            answer = self._answer(target, operation, params)
            return _Reply(drop=True) if fault is not None and fault.kind == "drop_after" else _Reply(body=answer)
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

    def _record_and_take_fault(self, operation: str, params: JsonDict) -> Fault | None:
        with self._lock:
            self.calls.append((operation, params))
            for fault in self._faults:
                if fault.applies_to(operation):
                    fault.remaining -= 1
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    return fault
            return None

    def _fault_reply(self, fault: Fault, operation: str, params: JsonDict) -> _Reply:
        if fault.kind == "drop":
            return _Reply(drop=True)
        if fault.kind == "role_not_assumable":
            return self._error_reply(role_not_assumable(str(params.get("RoleArn"))))
        spec = ERROR_FAULTS[fault.kind]
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
        problems = input_problems(operation, params)
        if problems:
            raise invalid_request(problems)
        with self._lock:
            # Copies in and out: the answer is serialized after the lock is released.
            return copy.deepcopy(self._operations[operation](copy.deepcopy(params)))


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
