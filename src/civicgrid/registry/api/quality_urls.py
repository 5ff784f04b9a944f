"""API routes of the data-quality queues and spot checks (include under /api/, in the "api" namespace)."""

from django.urls import path

from civicgrid.registry.api import quality as views

urlpatterns = [
    path("register/quality/issues/", views.IssueListView.as_view(), name="quality-issue-list"),
    path("register/quality/issues/<int:issue_id>/", views.IssueDetailView.as_view(), name="quality-issue-detail"),
    path(
        "register/quality/issues/<int:issue_id>/decide/",
        views.IssueDecideView.as_view(),
        name="quality-issue-decide",
    ),
    path("register/quality/counts/", views.IssueCountsView.as_view(), name="quality-counts"),
    path("register/spotchecks/", views.SpotCheckListView.as_view(), name="spotcheck-list"),
    path("register/spotchecks/rates/", views.RatesView.as_view(), name="spotcheck-rates"),
    path("register/spotchecks/<int:check_id>/", views.SpotCheckDetailView.as_view(), name="spotcheck-detail"),
    path("register/spotchecks/<int:check_id>/verify/", views.SpotCheckVerifyView.as_view(), name="spotcheck-verify"),
    path(
        "register/spotchecks/<int:check_id>/houses/<int:item_id>/record/",
        views.ItemRecordView.as_view(),
        name="spotcheck-record",
    ),
    path(
        "register/spotchecks/<int:check_id>/houses/<int:item_id>/register/",
        views.ItemRegisterView.as_view(),
        name="spotcheck-register",
    ),
]
