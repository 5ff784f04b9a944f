from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.accounts.roles import Role
from civicgrid.orgunits.models import Department, OrgUnit


class User(AbstractUser):
    """An account: one person, one role, bound to one org unit (and a department for handlers)."""

    full_name = models.CharField(_("姓名"), max_length=60, blank=True)
    role = models.CharField(_("角色"), max_length=20, choices=Role.choices)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("组织单元"), on_delete=models.PROTECT, related_name="accounts", null=True
    )
    department = models.ForeignKey(
        Department,
        verbose_name=pgettext_lazy("singular", "职能部门"),
        on_delete=models.PROTECT,
        related_name="accounts",
        null=True,
        blank=True,
    )
    phone = models.CharField(_("工作电话"), max_length=32, blank=True)
    failed_logins = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    password_changed_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()  # type: ignore[misc]

    REQUIRED_FIELDS = ["role"]

    class Meta:
        ordering = ["username"]
        verbose_name = _("账号")
        verbose_name_plural = pgettext_lazy("plural", "账号")

    def __str__(self) -> str:
        return self.full_name or self.username

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    def is_locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > timezone.now()
