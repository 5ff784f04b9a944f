"""Gunicorn configuration for CivicGrid in production (`gunicorn -c deploy/gunicorn.conf.py`).

Every value can be changed from the environment (the systemd unit loads the same `.env` file as the
application), so this file is used unchanged on every server:

    GUNICORN_BIND             address(es) to listen on, comma-separated   127.0.0.1:8000
    GUNICORN_WORKERS          worker processes                            2 x CPU cores + 1
    GUNICORN_THREADS          threads per worker                          1
    GUNICORN_TIMEOUT          seconds before a silent worker is killed    60
    GUNICORN_GRACEFUL_TIMEOUT seconds a worker gets to finish on restart  30
    GUNICORN_KEEPALIVE        seconds an idle keep-alive connection waits 5
    GUNICORN_MAX_REQUESTS     requests before a worker is recycled        1000 (0 = never)
    GUNICORN_ACCESS_LOG       access log file, "-" for stdout (journald)  -
    GUNICORN_ERROR_LOG        error log file, "-" for stderr (journald)   -
    GUNICORN_LOG_LEVEL        debug, info, warning, error                 info
    GUNICORN_CONTROL_SOCKET   gunicornc control socket; empty disables it (empty)
    FORWARDED_ALLOW_IPS       proxies trusted for X-Forwarded-Proto       127.0.0.1,::1 (gunicorn's own)
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _str(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


wsgi_app = "civicgrid.wsgi:application"

bind = [address.strip() for address in _str("GUNICORN_BIND", "127.0.0.1:8000").split(",") if address.strip()]
workers = _int("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count() + 1)
threads = _int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"

# A request that takes longer than this is a bug or a stuck database: kill the worker, log it.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then so a slow leak cannot grow without bound; jitter avoids all at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = max_requests // 10

# Logs go to stdout/stderr, which systemd hands to journald. The access log also carries the response
# time and the request id CivicGrid puts in every response (X-Request-ID), to match log lines to reports.
accesslog = _str("GUNICORN_ACCESS_LOG", "-")
errorlog = _str("GUNICORN_ERROR_LOG", "-")
loglevel = _str("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms rid=%({x-request-id}o)s'

# Gunicorn >= 25 opens a control socket for `gunicornc`; off unless a path is configured.
control_socket_disable = not _str("GUNICORN_CONTROL_SOCKET", "")
if not control_socket_disable:
    control_socket = _str("GUNICORN_CONTROL_SOCKET", "")

proc_name = "civicgrid"
# Files gunicorn creates (logs) are not world-readable.
umask = 0o027
