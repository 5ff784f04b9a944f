from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.core.errors import ValidationFailed
from civicgrid.registry.models import QualityIssue
from civicgrid.registry.quality import quality_scan


class Command(BaseCommand):
    help = (
        "扫描实有人口登记数据质量问题（疑似重复人员、多处在住、超员居住、长期未更新、证件信息不一致），"
        "更新核查队列；不改动登记数据。建议每晚定时运行。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stale-months", type=int, default=None, help="多少个月未更新视为长期未更新（默认取设置）")
        parser.add_argument("--persons-per-room", type=int, default=None, help="每间房居住人数上限")
        parser.add_argument("--area-per-person", type=Decimal, default=None, help="人均居住面积下限（㎡）")
        parser.add_argument(
            "--kind", action="append", choices=QualityIssue.Kind.values, help="只扫描某类问题（可重复）"
        )
        parser.add_argument("--dry-run", action="store_true", help="只统计，不写入核查队列")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = quality_scan(
                stale_months=options["stale_months"],
                persons_per_room=options["persons_per_room"],
                area_per_person=options["area_per_person"],
                kinds=options["kind"],
                dry_run=options["dry_run"],
            )
        except ValidationFailed as exc:
            raise CommandError("；".join(m for msgs in exc.fields.values() for m in msgs)) from None
        labels = dict(QualityIssue.Kind.choices)
        verb = "将" if result.dry_run else "已"
        for kind, counts in result.kinds.items():
            self.stdout.write(
                f"{labels[kind]}：发现 {counts.found}，{verb}新增 {counts.created}，{verb}更新 {counts.refreshed}，"
                f"{verb}重新打开 {counts.reopened}，{verb}自动关闭 {counts.closed}"
            )
        summary = f"解密证件号码 {result.decrypted} 个"
        if result.undecryptable:
            summary += f"，无法解密 {result.undecryptable} 个"
        self.stdout.write(self.style.SUCCESS(("试运行完成：" if result.dry_run else "扫描完成：") + summary))
