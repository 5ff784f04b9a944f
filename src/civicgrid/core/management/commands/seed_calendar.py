from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.workcalendar import calendar_seed_from_package


def _years(years: tuple[int, ...]) -> str:
    return "、".join(str(y) for y in years) or "—"


class Command(BaseCommand):
    help = (
        "从 chinese-calendar 软件包写入工作日历（法定节假日与调休上班日）：只写入尚未导入的年份；"
        "管理员导入的年份从不覆盖。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--refresh", action="store_true", help=_("软件包升级后：改写此前从软件包写入、现在内容不同的年份")
        )
        parser.add_argument("--dry-run", action="store_true", help=_("只显示将写入的年份，不写入"))

    def handle(self, *args: Any, **options: Any) -> None:
        result = calendar_seed_from_package(actor=None, refresh=options["refresh"], dry_run=options["dry_run"])
        values = {
            "version": result.package_version,
            "seeded": _years(result.seeded),
            "unchanged": _years(result.unchanged),
            "kept": _years(result.kept),
        }
        if result.dry_run:
            self.stdout.write(
                _("chinesecalendar %(version)s：将写入 %(seeded)s；已是最新 %(unchanged)s；管理员导入（保留）%(kept)s")
                % values
            )
        else:
            self.stdout.write(
                _("chinesecalendar %(version)s：已写入 %(seeded)s；已是最新 %(unchanged)s；管理员导入（保留）%(kept)s")
                % values
            )
