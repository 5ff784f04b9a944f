"""Pages of the register import; included by `civicgrid.urls` at the root (namespace "registry_imports")."""

from django.urls import path

from civicgrid.registry import import_views

app_name = "registry_imports"

urlpatterns = [
    path("register/imports/", import_views.import_list, name="list"),
    path("register/imports/<int:job_id>/", import_views.import_detail, name="detail"),
    path("register/imports/<int:job_id>/commit/", import_views.import_commit, name="commit"),
    path("register/imports/<int:job_id>/report.<str:fmt>", import_views.import_report, name="report"),
]
