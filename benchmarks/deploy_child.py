"""The handler's side of the deploy benchmark, in a fresh interpreter (a cold Lambda).

Reads one JSON command a line from stdin (``create``, ``update`` or ``delete`` of one logical
resource), delivers it through ``devtools.provider_driver.ProviderDriver`` to the real handler, whose
boto3 client talks to the SageMaker stand-in named by ``AWS_ENDPOINT_URL_SAGEMAKER``, and answers
one JSON line: the outcome, each handler invocation and its duration, and the wall time.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


class LogSink:
    """Takes the handler's log lines (it prints JSON lines to stdout), counting them."""

    def __init__(self) -> None:
        self.lines = 0
        self.bytes = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        self.bytes += len(text.encode())
        return len(text)

    def flush(self) -> None:
        pass


class InvocationLog:
    """Times the handler's entry points and counts the SageMaker calls each makes.

    The driver calls ``handler.handle_on_event``/``handler.handle_is_complete`` by name: both are
    replaced by wrappers. The calls are counted on the client's botocore ``before-call`` event
    (once per API call; retries are not counted again).
    """

    def __init__(self, handler: Any, client: Any) -> None:
        self.entries: list[tuple[str, float, list[str]]] = []
        self._calls: list[str] = []
        for entry in ("on_event", "is_complete"):
            name = f"handle_{entry}"
            setattr(handler, name, self._timed(entry, getattr(handler, name)))
        client.meta.events.register("before-call.sagemaker", self._count)

    def _timed(self, entry: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._calls = []
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.entries.append((entry, time.perf_counter() - started, self._calls))

        return timed

    def _count(self, model: Any, **_kwargs: Any) -> None:
        self._calls.append(model.name)


def _execute(driver: Any, command: dict[str, Any], physical_ids: dict[str, str]) -> Any:
    logical_id = command["logical_id"]
    if command["op"] == "create":
        return driver.create(logical_id, command["props"])
    if command["op"] == "update":
        return driver.update(logical_id, physical_ids[logical_id], command["props"], command["old_props"])
    if command["op"] == "delete":
        return driver.delete(logical_id, physical_ids[logical_id], command["props"])
    raise ValueError(f"unknown op {command['op']!r}")


def main() -> int:
    started = time.perf_counter()
    from shadow_test_core.experiment import handler

    import_seconds = time.perf_counter() - started
    from devtools.provider_driver import ProviderDriver
    from shadow_test_core.experiment.sagemaker_api import SageMakerApi, create_client

    # The client the Lambda container would create on its first invocation, counted.
    client = create_client()
    log = InvocationLog(handler, client)
    driver = ProviderDriver(api=SageMakerApi(client))
    physical_ids: dict[str, str] = {}
    answers, sink = sys.stdout, LogSink()
    sys.stdout = sink  # type: ignore[assignment]  # the handler's logs; answers keep the real stdout
    for line in sys.stdin:
        command = json.loads(line)
        first, log_lines, log_bytes = len(log.entries), sink.lines, sink.bytes
        begun = time.perf_counter()
        outcome = _execute(driver, command, physical_ids)
        wall = time.perf_counter() - begun
        if outcome.status == "SUCCESS" and outcome.physical_id:
            physical_ids[command["logical_id"]] = outcome.physical_id
        answer = {
            "status": outcome.status,
            "reason": outcome.reason,
            "physical_id": outcome.physical_id,
            "invocations": log.entries[first:],
            "wall_seconds": wall,
            "handler_import_seconds": import_seconds,
            "log_lines": sink.lines - log_lines,
            "log_bytes": sink.bytes - log_bytes,
        }
        print(json.dumps(answer), file=answers, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
