from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "civicgrid.registry"
    label = "registry"
    verbose_name = _("实有人口和房屋")

    def ready(self) -> None:
        from civicgrid.geo.services import PUBLISH_HOOKS
        from civicgrid.registry.services import restamp_buildings

        if restamp_buildings not in PUBLISH_HOOKS:
            PUBLISH_HOOKS.append(restamp_buildings)
