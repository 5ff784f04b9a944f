from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    """Operations: backup and restore, administrator bootstrap. Sits above every domain app."""

    name = "civicgrid.ops"
    label = "ops"
    verbose_name = _("运维")
