"""Per-request context (source address, request id) that services and the audit journal read.

Set by `RequestContextMiddleware`; management commands and tests run with the defaults."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    source: str = "local"
    request_id: str = ""
    channel: str = "system"


_DEFAULT = RequestContext()  # frozen, so sharing it as the default is safe
_current: ContextVar[RequestContext] = ContextVar("civicgrid_request_context", default=_DEFAULT)


def current() -> RequestContext:
    return _current.get()


@contextlib.contextmanager
def bound(source: str, channel: str, request_id: str | None = None) -> Iterator[RequestContext]:
    ctx = RequestContext(source=source, request_id=request_id or uuid.uuid4().hex[:16], channel=channel)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
