from django.urls import path

from civicgrid.audit.api import views

urlpatterns = [
    path("audit/entries/", views.AuditEntryListView.as_view(), name="audit-list"),
    path("audit/verify/", views.AuditVerifyView.as_view(), name="audit-verify"),
]
