from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from civicgrid.demo.services import DEMO_PASSWORD, demo_load


class Command(BaseCommand):
    help = "载入演示数据：番禺区真实区划、职能部门、每个角色一个演示账号（可重复执行）"

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = demo_load()
        self.stdout.write(self.style.SUCCESS(f"演示数据已就绪。演示账号（密码均为 {DEMO_PASSWORD}）："))
        for account in accounts:
            self.stdout.write(f"  {account.username:<20} {account.full_name}")
