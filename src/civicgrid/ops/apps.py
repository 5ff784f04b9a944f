from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: backup and restore, administrator bootstrap. Sits above every domain app."""

    name = "civicgrid.ops"
    label = "ops"
    verbose_name = "Operations"
