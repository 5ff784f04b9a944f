from django.conf import settings
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog, set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from civicgrid.core.api import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/", include("civicgrid.api_urls")),
    path("", include("civicgrid.geo.urls")),
    path("open311/v2/", include("civicgrid.events.open311_urls")),
    path("", include("civicgrid.registry.urls")),
    path("", include("civicgrid.registry.import_urls")),
    path("", include("civicgrid.registry.quality_urls")),
    path("", include("civicgrid.events.urls")),
    path("", include("civicgrid.events.public_urls")),
    path("", include("civicgrid.events.admin_urls")),
    path("", include("civicgrid.web.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()

handler404 = "civicgrid.web.views.error_404"
handler403 = "civicgrid.web.views.error_403"
handler500 = "civicgrid.web.views.error_500"
