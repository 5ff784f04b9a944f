from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "civicgrid.events"
    label = "events"
    verbose_name = _("网格事件")

    def ready(self) -> None:
        from civicgrid.core.workcalendar import YEAR_LOADED_HOOKS
        from civicgrid.events.services import recompute_after_calendar_load

        if recompute_after_calendar_load not in YEAR_LOADED_HOOKS:
            YEAR_LOADED_HOOKS.append(recompute_after_calendar_load)
