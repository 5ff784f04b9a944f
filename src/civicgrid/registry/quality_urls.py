"""Pages of the data-quality queues and the spot checks (namespace "quality"; include at the site root)."""

from django.urls import path

from civicgrid.registry import quality_views as views

app_name = "quality"

urlpatterns = [
    path("quality/", views.quality_issues, name="issues"),
    path("quality/<int:issue_id>/decide/", views.quality_decide, name="decide"),
    path("spotchecks/", views.spotcheck_list, name="spotchecks"),
    path("spotchecks/rates/", views.spotcheck_rates, name="rates"),
    path("spotchecks/<int:check_id>/", views.spotcheck_detail, name="spotcheck"),
    path("spotchecks/<int:check_id>/houses/<int:item_id>/", views.spotcheck_item, name="spotcheck-item"),
]
