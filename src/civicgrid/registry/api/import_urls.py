"""Register import API routes; included by `civicgrid.api_urls` (namespace "api")."""

from django.urls import path

from civicgrid.registry.api import imports

urlpatterns = [
    path("register/imports/", imports.ImportListView.as_view(), name="import-list"),
    path("register/imports/<int:job_id>/", imports.ImportDetailView.as_view(), name="import-detail"),
    path("register/imports/<int:job_id>/commit/", imports.ImportCommitView.as_view(), name="import-commit"),
    path("register/imports/<int:job_id>/report/", imports.ImportReportView.as_view(), name="import-report"),
]
