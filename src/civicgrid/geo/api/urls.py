from django.urls import path

from civicgrid.geo.api import views

urlpatterns = [
    path("layers/", views.LayerListView.as_view(), name="layer-list"),
    path("layers/<int:layer_id>/", views.LayerDetailView.as_view(), name="layer-detail"),
    path("layers/<int:layer_id>/check/", views.LayerCheckView.as_view(), name="layer-check"),
    path("layers/<int:layer_id>/publish/", views.LayerPublishView.as_view(), name="layer-publish"),
    path("layers/<int:layer_id>/discard/", views.LayerDiscardView.as_view(), name="layer-discard"),
    path("layers/<int:layer_id>/draft/", views.LayerDraftView.as_view(), name="layer-draft"),
    path("layers/<int:layer_id>/boundaries/", views.LayerBoundariesView.as_view(), name="layer-boundaries"),
    path("layers/<int:layer_id>/problems/", views.LayerProblemsView.as_view(), name="layer-problems"),
    path("layers/<int:layer_id>/lineage/", views.LayerLineageView.as_view(), name="layer-lineage"),
    path("layers/<int:layer_id>/export/", views.LayerExportView.as_view(), name="layer-export"),
    path("grids/", views.GridListView.as_view(), name="grid-list"),
    path("grids/lookup/", views.GridLookupView.as_view(), name="grid-lookup"),
    path("grids/stamp/", views.GridStampView.as_view(), name="grid-stamp"),
]
