from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civicgrid.audit.selectors import audit_verify


class Command(BaseCommand):
    help = "校验审计日志哈希链：发现被修改、插入或删除的记录时以非零状态退出并指出记录序号。"

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify()
        if report.ok:
            n = report.checked
            self.stdout.write(
                self.style.SUCCESS(
                    ngettext("审计日志完整：已校验 %(n)d 条记录", "审计日志完整：已校验 %(n)d 条记录", n) % {"n": n}
                )
            )
            return
        for problem in report.problems:
            self.stderr.write(_("审计记录 %(problem)s") % {"problem": problem})
        raise CommandError(
            _("审计日志哈希链被破坏：%(problems)s 处问题（已校验 %(checked)s 条）")
            % {"problems": len(report.problems), "checked": report.checked}
        )
