"""Grid-event pages. Mounted at the site root (`path("", include("civicgrid.events.urls"))`)."""

from django.urls import path

from civicgrid.events import views

app_name = "events"

urlpatterns = [
    path("events/", views.workbench, name="workbench"),
    path("events/new/", views.report_new, name="new"),
    path("events/phone/", views.phone_intake, name="phone"),
    path("events/map/", views.case_map, name="map"),
    path("events/<str:number>/", views.case_page, name="case"),
]
