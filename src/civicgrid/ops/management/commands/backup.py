from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.ops.backup import BackupError, backup_create, iter_summary


class Command(BaseCommand):
    help = (
        "备份整个数据库到一个文件（含清单：格式版本、数据库类型、创建时间、程序版本、校验和、审计日志链头）。"
        "SQLite 用在线备份接口，PostgreSQL 用 pg_dump；已存在的文件须加 --force 才会覆盖。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", required=True, type=Path, help=_("备份文件路径"))
        parser.add_argument("--force", action="store_true", help=_("覆盖已存在的备份文件"))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = backup_create(output=options["output"], force=options["force"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(_("已写入备份文件 %(file)s") % {"file": result.path}))
        for line in iter_summary(result.manifest):
            self.stdout.write(f"  {line}")
