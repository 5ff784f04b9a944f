"""Administrator pages of the event catalogue. Mounted at the site root
(`path("", include("civicgrid.events.admin_urls"))`)."""

from django.urls import path

from civicgrid.events import admin_views

app_name = "events_admin"

urlpatterns = [
    path("settings/calendar/", admin_views.calendar_page, name="calendar"),
    path("settings/catalogue/", admin_views.catalogue_page, name="catalogue"),
    path("settings/dispatch-rules/", admin_views.dispatch_rules_page, name="dispatch-rules"),
    path("settings/time-limits/", admin_views.time_limits_page, name="time-limits"),
]
