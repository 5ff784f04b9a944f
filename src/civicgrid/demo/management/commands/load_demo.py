from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from civicgrid.accounts.roles import Role
from civicgrid.demo.services import DEMO_PASSWORD, demo_load
from civicgrid.orgunits.models import OrgUnit


class Command(BaseCommand):
    help = "载入演示数据：番禺区真实区划、职能部门、每个角色一个演示账号（可重复执行）"

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = demo_load()
        self.stdout.write(
            self.style.SUCCESS(_("演示数据已就绪。演示账号（密码均为 %(password)s）：") % {"password": DEMO_PASSWORD})
        )
        units = dict(OrgUnit.objects.filter(code__in=[a.unit_code for a in accounts]).values_list("code", "name"))
        for account in accounts:
            role = Role(account.role).label
            self.stdout.write(f"  {account.username:<20} {role:<12} {account.full_name}（{units[account.unit_code]}）")
