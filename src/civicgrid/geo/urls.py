from django.urls import path

from civicgrid.geo import views

app_name = "geo"

urlpatterns = [
    path("map/", views.grid_map, name="map"),
    path("layers/", views.layer_list, name="layers"),
    path("layers/<int:layer_id>/", views.layer_detail, name="layer"),
    path("layers/<int:layer_id>/export/", views.layer_export, name="layer-export"),
    path("layers/<int:layer_id>/<str:action>/", views.layer_action, name="layer-action"),
]
