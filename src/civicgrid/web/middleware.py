from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from civicgrid.core.errors import DomainError, NotAuthenticated


class DomainErrorPageMiddleware:
    """A domain error that escapes a page view (a refused read, a missing object) becomes the error page
    with the error's status and message, never a 500. The API maps the same errors to JSON itself."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DomainError) or request.path.startswith(("/api/", "/open311/")):
            return None
        if isinstance(exception, NotAuthenticated):
            from django.contrib.auth.views import redirect_to_login

            return redirect_to_login(request.get_full_path())
        return render(request, "web/error.html", {"message": exception.message}, status=exception.status)
