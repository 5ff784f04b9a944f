from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class AccountsConfig(AppConfig):
    name = "civicgrid.accounts"
    label = "accounts"
    verbose_name = pgettext_lazy("app", "账号")
