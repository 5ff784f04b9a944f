"""Public pages of grid events (no login) and the serving of attachments, mounted at the site root:

/report/                                   citizen report form
/track/<token>/                            the reporter's private tracking page
/track/<token>/evaluate/                   evaluation (POST)
/track/<token>/photos/<id>/<public|thumb>/ a photo's public copy or thumbnail, for the token holder
/events/attachments/<id>/                  staff: the original file (access checked)
/events/attachments/<id>/<public|thumb>/   staff: the public copy or thumbnail
"""

from django.urls import path

from civicgrid.events import attachments, public

app_name = "events_public"

urlpatterns = [
    path("report/", public.report, name="report"),
    path("track/<slug:token>/", public.track, name="track"),
    path("track/<slug:token>/evaluate/", public.track_evaluate, name="track-evaluate"),
    path(
        "track/<slug:token>/photos/<int:attachment_id>/<str:variant>/",
        attachments.attachment_public_file,
        name="track-photo",
    ),
    path("events/attachments/<int:attachment_id>/", attachments.attachment_file, name="attachment"),
    path(
        "events/attachments/<int:attachment_id>/<str:variant>/",
        attachments.attachment_file,
        name="attachment-variant",
    ),
]
