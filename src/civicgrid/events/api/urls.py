"""Grid-event API routes. Included under /api/ (`path("", include("civicgrid.events.api.urls"))`)."""

from django.urls import path

from civicgrid.events.api import views

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
    path("events/categories/", views.CategoryListView.as_view(), name="events-categories"),
    path("events/locate/", views.LocateView.as_view(), name="events-locate"),
    path("events/map/", views.CaseMapView.as_view(), name="events-map"),
]
