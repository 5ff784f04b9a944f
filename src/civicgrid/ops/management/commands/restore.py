from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

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
        parser.add_argument("--input", "-i", required=True, type=Path, help="备份文件路径")
        parser.add_argument("--yes", action="store_true", help="不再询问，直接恢复")
        parser.add_argument("--dry-run", action="store_true", help="只检查备份文件，不恢复")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["input"]
        try:
            if options["dry_run"]:
                manifest = backup_inspect(path=path)
                self.stdout.write(self.style.SUCCESS(f"备份文件 {path} 完好，可以恢复到当前数据库。"))
                for line in iter_summary(manifest):
                    self.stdout.write(f"  {line}")
                return
            result = backup_restore(path=path, confirm=None if options["yes"] else self._confirm)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc

        self.stdout.write(self.style.SUCCESS(f"已从备份文件 {path} 恢复数据库。"))
        if not result.matches_manifest:
            manifest = result.manifest
            self.stderr.write(
                f"注意：恢复后的审计日志（{result.audit_entries} 条，链头 {result.audit_head_hash[:16]}…）"
                f"与备份清单（{manifest.audit_entries} 条，链头 {manifest.audit_head_hash[:16]}…）不一致。"
            )
        if result.audit.ok and result.matches_manifest:
            self.stdout.write(self.style.SUCCESS(f"审计日志完整：已校验 {result.audit.checked} 条记录"))
            return
        for problem in result.audit.problems:
            self.stderr.write(f"审计记录 {problem}")
        raise CommandError(
            f"数据库已恢复，但审计日志校验未通过：{len(result.audit.problems)} 处问题"
            f"（已校验 {result.audit.checked} 条）。请确认 SECRET_KEY / AUDIT_CHAIN_KEY 与备份时一致。"
        )

    def _confirm(self, manifest: BackupManifest) -> bool:
        self.stdout.write("即将用以下备份替换当前数据库，当前数据将全部丢失：")
        for line in iter_summary(manifest):
            self.stdout.write(f"  {line}")
        try:
            answer = input("确认恢复？输入 yes 继续：")
        except EOFError:
            return False
        return answer.strip().lower() in {"yes", "y", "是"}
