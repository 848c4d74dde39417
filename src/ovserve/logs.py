"""Log formats (``--log_format text|json``) and the request id every log line of a request carries.

With ``--log_format json`` each line is one JSON object: ``time`` (ISO 8601, UTC), ``level``,
``logger``, ``message``, and when known ``request_id``, ``worker``, ``exception``. The request id
is the client's ``x-request-id`` (REST header or gRPC metadata) or one ovserve makes; the front
ends put it in :data:`REQUEST_ID` (a context variable, so it follows the request into tasks and
worker threads started from it) and echo it back as ``x-request-id``. With text logs (the
default, OVMS's format) no id is tracked and nothing is added to the request path.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import time
from collections.abc import Callable

#: the request id of the request being handled (None outside requests)
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("ovserve_request_id", default=None)
#: longest request id taken from a client; longer ones (and ids with odd characters) are replaced
MAX_REQUEST_ID = 128


def request_id_maker() -> Callable[[], str]:
    """Unique ids for requests without one: ``<pid hex>-<counter hex>`` (cheaper than a UUID)."""
    prefix = f"{os.getpid():x}-{int(time.time()):x}-"
    counter = itertools.count(1)
    return lambda: prefix + format(next(counter), "x")


def accepted_request_id(given: str | bytes | None, make: Callable[[], str]) -> str:
    """The client's id when it is printable ASCII of at most MAX_REQUEST_ID characters, else a new one."""
    if isinstance(given, bytes):
        given = given.decode("ascii", "replace")
    if given and len(given) <= MAX_REQUEST_ID and given.isascii() and given.isprintable():
        return given
    return make()


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        if self.worker is not None:
            entry["worker"] = self.worker
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter(log_format: str, worker: int | None = None) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(worker)
    where = f"[worker {worker}]" if worker is not None else ""
    return logging.Formatter(f"[%(asctime)s][%(levelname)s]{where}[%(name)s] %(message)s")
