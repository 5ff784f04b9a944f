from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from civicgrid.events.services import deadlines_recompute, events_sweep


class Command(BaseCommand):
    help = (
        "定时任务：重算暂定时限（节假日安排载入后）、对超时事件自动督办、超时三倍升级。可重复执行（幂等）。"
        "由 cron 或进程管理器定时运行；--every N 则每 N 秒运行一次（演示环境使用）。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=int, default=0, help="每隔多少秒运行一次（0 表示只运行一次）")
        parser.add_argument("--all-deadlines", action="store_true", help="重算所有在办事件的时限，而不仅是暂定的")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            started = time.monotonic()
            changed = deadlines_recompute(only_provisional=not options["all_deadlines"])
            counts = events_sweep()
            self.stdout.write(
                f"时限重算 {changed} 件；检查超时 {counts['checked']} 件，新督办 {counts['supervised']} 件，"
                f"升级 {counts['escalated']} 件（{time.monotonic() - started:.1f} 秒）"
            )
            if not options["every"]:
                return
            time.sleep(options["every"])
