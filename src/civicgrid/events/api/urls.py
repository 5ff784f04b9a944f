"""Grid-event API routes. Included under /api/ (`path("", include("civicgrid.events.api.urls"))`)."""

from django.urls import path

from civicgrid.events.api import admin, attachments, feedback, views

urlpatterns = [
    path("events/workbench/", views.WorkbenchView.as_view(), name="events-workbench"),
    path("events/cases/", views.CaseListView.as_view(), name="events-case-list"),
    path("events/cases/<str:number>/", views.CaseDetailView.as_view(), name="events-case-detail"),
    path("events/cases/<str:number>/transitions/", views.CaseTransitionView.as_view(), name="events-case-transition"),
    path("events/cases/<str:number>/extension/", views.CaseExtensionView.as_view(), name="events-case-extension"),
    path(
        "events/cases/<str:number>/extension/decision/",
        views.CaseExtensionDecisionView.as_view(),
        name="events-case-extension-decision",
    ),
    # Attachments: the case's list and uploads; the files, access checked (originals keep their EXIF).
    path(
        "events/cases/<str:number>/attachments/",
        attachments.CaseAttachmentListView.as_view(),
        name="events-case-attachments",
    ),
    path(
        "events/attachments/<int:attachment_id>/",
        attachments.AttachmentFileView.as_view(),
        name="events-attachment-file",
    ),
    path(
        "events/attachments/<int:attachment_id>/<str:variant>/",
        attachments.AttachmentVariantView.as_view(),
        name="events-attachment-variant",
    ),
    # Evaluation (the reporter signed in, or a citizen with the tracking token) and reopening.
    path("events/cases/<str:number>/evaluation/", feedback.CaseEvaluationView.as_view(), name="events-case-evaluation"),
    path(
        "events/track/<slug:token>/evaluation/",
        feedback.TrackedEvaluationView.as_view(),
        name="events-track-evaluation",
    ),
    path(
        "events/cases/<str:number>/reopen/decision/",
        feedback.ReopenDecisionView.as_view(),
        name="events-case-reopen-decision",
    ),
    # Duplicates and merging.
    path(
        "events/cases/<str:number>/duplicates/",
        feedback.CaseDuplicateListView.as_view(),
        name="events-case-duplicates",
    ),
    path("events/cases/<str:number>/merge/", feedback.CaseMergeView.as_view(), name="events-case-merge"),
    path("events/categories/", views.CategoryListView.as_view(), name="events-categories"),
    path("events/locate/", views.LocateView.as_view(), name="events-locate"),
    path("events/map/", views.CaseMapView.as_view(), name="events-map"),
    # Administrators: the catalogue, dispatch rules, time-limit versions, the working-day calendar.
    # (`events/categories/` above is the intake list of active categories; this is the administrators'.)
    path("events/catalogue/categories/", admin.CategoryListView.as_view(), name="events-catalogue-categories"),
    path(
        "events/catalogue/categories/<str:code>/",
        admin.CategoryDetailView.as_view(),
        name="events-catalogue-category",
    ),
    path("events/dispatch-rules/", admin.DispatchRuleListView.as_view(), name="events-dispatch-rules"),
    path("events/dispatch-rules/<int:rule_id>/", admin.DispatchRuleDetailView.as_view(), name="events-dispatch-rule"),
    path(
        "events/dispatch-rules/<int:rule_id>/move/",
        admin.DispatchRuleMoveView.as_view(),
        name="events-dispatch-rule-move",
    ),
    path("events/time-limits/", admin.TimeLimitListView.as_view(), name="events-time-limits"),
    path("events/calendar/", admin.CalendarView.as_view(), name="events-calendar"),
    path("events/calendar/import/", admin.CalendarImportView.as_view(), name="events-calendar-import"),
    path("events/calendar/seed/", admin.CalendarSeedView.as_view(), name="events-calendar-seed"),
    path("events/calendar/<int:year>/", admin.CalendarYearView.as_view(), name="events-calendar-year"),
]
