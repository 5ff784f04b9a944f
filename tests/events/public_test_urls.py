"""The project's URLs plus the public event pages (until the lead wires them into civicgrid.urls)."""

from django.urls import include, path

from civicgrid.urls import urlpatterns as project_urlpatterns

_wired = any(getattr(p, "namespace", None) == "events_public" for p in project_urlpatterns)
urlpatterns = [*([] if _wired else [path("", include("civicgrid.events.public_urls"))]), *project_urlpatterns]
