"""The project's URLs plus the administrator pages (until the lead wires them into civicgrid.urls)."""

from django.urls import include, path

from civicgrid.urls import urlpatterns as project_urlpatterns

_wired = any(getattr(p, "namespace", None) == "events_admin" for p in project_urlpatterns)
urlpatterns = [*([] if _wired else [path("", include("civicgrid.events.admin_urls"))]), *project_urlpatterns]
