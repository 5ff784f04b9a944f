from django.urls import path

from civicgrid.orgunits.api import views

urlpatterns = [
    path("orgunits/", views.OrgUnitListView.as_view(), name="orgunit-list"),
    path("orgunits/<str:code>/", views.OrgUnitDetailView.as_view(), name="orgunit-detail"),
    path("orgunits/<str:code>/subtree/", views.OrgUnitSubtreeView.as_view(), name="orgunit-subtree"),
    path("departments/", views.DepartmentListView.as_view(), name="department-list"),
]
