from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from civicgrid.registry.keys import rotate_pii_keys


class Command(BaseCommand):
    help = (
        "用当前密钥（PII_KEYS 的第一个）重新加密所有证件号码和电话；给出 --old-index-key 时同时用新的 "
        "PII_INDEX_KEY 重建盲索引。可重复执行，中断后再次运行即可继续。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--old-index-key", default="", help="更换盲索引密钥时：旧的 PII_INDEX_KEY（base64）")
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument("--dry-run", action="store_true", help="只统计需要处理的记录")

    def handle(self, *args: Any, **options: Any) -> None:
        result = rotate_pii_keys(
            old_index_key=options["old_index_key"], batch_size=options["batch_size"], dry_run=options["dry_run"]
        )
        verb = "需要处理" if options["dry_run"] else "已处理"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb}：重新加密 {result.reencrypted} 条，重建索引 {result.reindexed} 条"
                f"（共检查 {result.checked} 人）"
            )
        )
