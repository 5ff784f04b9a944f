from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civicgrid.ops.backup import (
    BackupError,
    BackupManifest,
    backup_inspect,
    backup_restore,
    iter_summary,
)


class Command(BaseCommand):
    help = (
        "从 backup 命令生成的备份文件恢复整个数据库（当前数据全部被替换），然后校验审计日志哈希链。"
        "恢复前请停止 CivicGrid 服务。--dry-run 只检查备份文件，不改动数据库。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--input", "-i", required=True, type=Path, help=_("备份文件路径"))
        parser.add_argument("--yes", action="store_true", help=_("不再询问，直接恢复"))
        parser.add_argument("--dry-run", action="store_true", help=_("只检查备份文件，不恢复"))

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["input"]
        try:
            if options["dry_run"]:
                manifest = backup_inspect(path=path)
                self.stdout.write(
                    self.style.SUCCESS(_("备份文件 %(file)s 完好，可以恢复到当前数据库。") % {"file": path})
                )
                for line in iter_summary(manifest):
                    self.stdout.write(f"  {line}")
                return
            result = backup_restore(path=path, confirm=None if options["yes"] else self._confirm)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc

        self.stdout.write(self.style.SUCCESS(_("已从备份文件 %(file)s 恢复数据库。") % {"file": path}))
        if not result.matches_manifest:
            manifest = result.manifest
            self.stderr.write(
                _(
                    "注意：恢复后的审计日志（%(restored_entries)s 条，链头 %(restored_hash)s…）"
                    "与备份清单（%(backup_entries)s 条，链头 %(backup_hash)s…）不一致。"
                )
                % {
                    "restored_entries": result.audit_entries,
                    "restored_hash": result.audit_head_hash[:16],
                    "backup_entries": manifest.audit_entries,
                    "backup_hash": manifest.audit_head_hash[:16],
                }
            )
        if result.audit.ok and result.matches_manifest:
            n = result.audit.checked
            self.stdout.write(
                self.style.SUCCESS(
                    ngettext("审计日志完整：已校验 %(n)d 条记录", "审计日志完整：已校验 %(n)d 条记录", n) % {"n": n}
                )
            )
            return
        for problem in result.audit.problems:
            self.stderr.write(_("审计记录 %(problem)s") % {"problem": problem})
        raise CommandError(
            _(
                "数据库已恢复，但审计日志校验未通过："
                "%(problems)s 处问题（已校验 %(checked)s 条）。"
                "请确认 SECRET_KEY / AUDIT_CHAIN_KEY 与备份时一致。"
            )
            % {"problems": len(result.audit.problems), "checked": result.audit.checked}
        )

    def _confirm(self, manifest: BackupManifest) -> bool:
        self.stdout.write(_("即将用以下备份替换当前数据库，当前数据将全部丢失："))
        for line in iter_summary(manifest):
            self.stdout.write(f"  {line}")
        try:
            answer = input(_("确认恢复？输入 yes 继续："))
        except EOFError:
            return False
        return answer.strip().lower() in {"yes", "y", "是"}
