from django.urls import path

from civicgrid.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password, name="password"),
    path("org/", views.orgunits, name="orgunits"),
    path("departments/", views.departments, name="departments"),
    path("accounts/", views.accounts, name="accounts"),
    path("accounts/<int:user_id>/<str:action>/", views.account_action, name="account-action"),
    path("audit/", views.audit, name="audit"),
]
