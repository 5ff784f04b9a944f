from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from civicgrid.accounts.roles import Role
from civicgrid.accounts.services import user_bootstrap
from civicgrid.core.errors import DomainError
from civicgrid.orgunits.models import OrgUnit


class Command(BaseCommand):
    help = "创建第一个区级管理员（或审计员）账号。密码从终端输入，或用 --password-stdin 从标准输入读取。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--unit", required=True, help=_("绑定的区代码，如 440113000000"))
        parser.add_argument("--full-name", default="")
        parser.add_argument("--role", default=Role.DISTRICT_ADMIN, choices=[Role.DISTRICT_ADMIN, Role.AUDITOR])
        parser.add_argument("--password-stdin", action="store_true", help=_("从标准输入读取密码（用于脚本）"))

    def handle(self, *args: Any, **options: Any) -> None:
        unit = OrgUnit.objects.filter(code=options["unit"]).first()
        if unit is None:
            raise CommandError(
                _("组织单元 %(unit)s 不存在：请先导入区划（civicgrid import-orgunits）") % {"unit": options["unit"]}
            )
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(_("密码："))
            if getpass.getpass(_("再次输入密码：")) != password:
                raise CommandError(_("两次输入的密码不一致"))
        try:
            user = user_bootstrap(
                username=options["username"],
                password=password,
                role=options["role"],
                org_unit=unit,
                full_name=options["full_name"],
            )
        except DomainError as exc:
            comma = pgettext("clause separator", "，")
            problems = pgettext("sentence separator", "；").join(
                _("%(field)s：%(messages)s") % {"field": k, "messages": comma.join(str(m) for m in v)}
                for k, v in exc.fields.items()
            )
            problems = problems or str(exc.message)
            raise CommandError(problems) from None
        self.stdout.write(
            self.style.SUCCESS(
                _("已创建 %(role)s %(username)s（%(unit)s）")
                % {"role": user.get_role_display(), "username": user.username, "unit": unit.name}
            )
        )
