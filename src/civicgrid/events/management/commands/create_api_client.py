from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.core.errors import DomainError, NotFound
from civicgrid.events.open311 import api_client_create
from civicgrid.orgunits.selectors import orgunit_get


class Command(BaseCommand):
    help = (
        "登记一个 Open311 接口客户端（外部系统），生成它的 api_key。密钥只显示这一次，数据库只保存其 SHA-256；"
        "丢失后请重新登记并停用旧客户端。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="客户端名称，如 “12345 热线”")
        parser.add_argument(
            "--jurisdiction", required=True, help="允许上报的区域（组织单元代码，如区 440113000000 或某镇街）"
        )
        parser.add_argument("--dry-run", action="store_true", help="只检查参数，不登记")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            area = orgunit_get(code=options["jurisdiction"])
        except NotFound as exc:
            raise CommandError(str(exc.message)) from None
        if options["dry_run"]:
            self.stdout.write(f"（试运行）将登记客户端 “{options['name']}”，可上报区域：{area.name}（{area.code}）")
            return
        try:
            client, key = api_client_create(actor=None, name=options["name"], area=area)
        except DomainError as exc:
            raise CommandError("；".join(m for ms in exc.fields.values() for m in ms) or str(exc.message)) from None
        self.stdout.write(
            self.style.SUCCESS(f"已登记客户端 “{client.name}”（前缀 {client.key_prefix}），可上报区域：{area.name}")
        )
        self.stdout.write("api_key（只显示这一次，请妥善保存）：")
        self.stdout.write(key)
