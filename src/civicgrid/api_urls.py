"""The API root: each domain app contributes its routes under /api/."""

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("civicgrid.accounts.api.urls")),
    path("", include("civicgrid.orgunits.api.urls")),
    path("", include("civicgrid.audit.api.urls")),
    path("", include("civicgrid.geo.api.urls")),
    path("", include("civicgrid.registry.api.urls")),
    path("", include("civicgrid.registry.api.import_urls")),
    path("", include("civicgrid.registry.api.quality_urls")),
    path("", include("civicgrid.events.api.urls")),
]
