from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from civicgrid.core import context


def client_address(request: HttpRequest) -> str:
    """The caller's address, trusting X-Forwarded-For only for the configured number of proxies."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return str(request.META.get("REMOTE_ADDR") or "unknown")


class RequestContextMiddleware:
    """Binds the source address and a request id for the duration of the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        channel = (
            "api" if request.path.startswith("/api/") else "open311" if request.path.startswith("/open311/") else "web"
        )
        with context.bound(client_address(request), channel) as ctx:
            response = self.get_response(request)
            response["X-Request-ID"] = ctx.request_id
            return response


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        tiles = ""
        if settings.MAP_TILE_URL:
            from urllib.parse import urlsplit

            parts = urlsplit(settings.MAP_TILE_URL.replace("{s}", "*"))
            tiles = f"{parts.scheme}://{parts.netloc}"
        self.csp = settings.CONTENT_SECURITY_POLICY.replace("{tiles}", tiles).replace("  ", " ")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/docs") or request.path.startswith("/api/redoc"):
            # Swagger UI / Redoc from the sidecar need inline bootstrapping; still same-origin only.
            response.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'",
            )
        else:
            response.setdefault("Content-Security-Policy", self.csp)
        response.setdefault("Permissions-Policy", "camera=(self), geolocation=(self), microphone=()")
        return response


class SessionRenewalMiddleware:
    """Renews a signed-in session's idle timer at most once every `SESSION_RENEW_SECONDS`, rather than
    writing the session on every request (`SESSION_SAVE_EVERY_REQUEST`): the idle timeout then holds to
    within that interval, and most requests write nothing; the write and its commit had been a measurable
    part of a workbench list's time, and most of its slowest requests. Sits after SessionMiddleware."""

    KEY = "_renewed_at"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.session_key is not None and not session.is_empty():
            now = int(time.time())
            if now - int(session.get(self.KEY, 0)) >= settings.SESSION_RENEW_SECONDS:
                session[self.KEY] = now  # marks the session modified: saved with a new expiry
        return response
