from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "civicgrid.demo"
    label = "demo"
    verbose_name = "Demo data"
