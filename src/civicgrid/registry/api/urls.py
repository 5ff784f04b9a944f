from django.urls import path

from civicgrid.registry.api import views

urlpatterns = [
    path("register/persons/", views.PersonSearchView.as_view(), name="person-search"),
    path("register/persons/<int:person_id>/", views.PersonDetailView.as_view(), name="person-detail"),
    path("register/persons/<int:person_id>/reveal/", views.PersonRevealView.as_view(), name="person-reveal"),
    path("register/houses/", views.HouseListView.as_view(), name="house-list"),
    path("register/houses/<int:house_id>/", views.HouseDetailView.as_view(), name="house-detail"),
    path("register/residences/", views.RegisterView.as_view(), name="residence-register"),
    path("register/residences/<int:record_id>/update/", views.ResidenceUpdateView.as_view(), name="residence-update"),
    path("register/residences/<int:record_id>/cancel/", views.ResidenceCancelView.as_view(), name="residence-cancel"),
    path("register/houses/<int:house_id>/rental/", views.HouseRentalView.as_view(), name="house-rental"),
    path("register/rentals/", views.RentalListView.as_view(), name="rental-list"),
    path("register/rentals/<int:rental_id>/update/", views.RentalUpdateView.as_view(), name="rental-update"),
    path("register/rentals/<int:rental_id>/end/", views.RentalEndView.as_view(), name="rental-end"),
    path("register/exports/", views.ExportView.as_view(), name="register-export"),
]
