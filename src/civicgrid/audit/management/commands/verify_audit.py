from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from civicgrid.audit.selectors import audit_verify


class Command(BaseCommand):
    help = "校验审计日志哈希链：发现被修改、插入或删除的记录时以非零状态退出并指出记录序号。"

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify()
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"审计日志完整：已校验 {report.checked} 条记录"))
            return
        for problem in report.problems:
            self.stderr.write(f"审计记录 {problem}")
        raise CommandError(f"审计日志哈希链被破坏：{len(report.problems)} 处问题（已校验 {report.checked} 条）")
