"""The project's routes plus Open311 under /open311/v2/, for tests until the project urlconf includes it."""

from django.urls import include, path

from civicgrid.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("open311/v2/", include("civicgrid.events.open311_urls")), *project_urlpatterns]
