from django.urls import path

from civicgrid.registry import views

app_name = "registry"

urlpatterns = [
    path("register/", views.search, name="search"),
    path("register/new/", views.register, name="register"),
    path("register/houses/new/", views.house_new, name="house-new"),
    path("register/houses/<int:house_id>/", views.house, name="house"),
    path("register/houses/<int:house_id>/arrival/", views.house_arrival, name="house-arrival"),
    path("register/houses/<int:house_id>/exception/", views.house_exception, name="house-exception"),
    path("register/residences/<int:record_id>/update/", views.residence_update, name="residence-update"),
    path("register/residences/<int:record_id>/cancel/", views.residence_cancel, name="residence-cancel"),
    path("register/persons/<int:person_id>/", views.person, name="person"),
    path("register/persons/<int:person_id>/reveal/", views.person_reveal, name="person-reveal"),
    path("register/houses/<int:house_id>/rental/", views.rental_register, name="rental-register"),
    path("register/rentals/", views.rental_list, name="rentals"),
    path("register/rentals/<int:rental_id>/update/", views.rental_update, name="rental-update"),
    path("register/rentals/<int:rental_id>/end/", views.rental_end, name="rental-end"),
    path("register/export/", views.export, name="export"),
]
