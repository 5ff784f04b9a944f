from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.workcalendar import CalendarRejected, calendar_load_text


def read_text(path: Path) -> str:
    """UTF-8 (with or without BOM), or GB18030 from older office software."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CommandError(_("%(file)s: 无法识别文件编码（支持 UTF-8、GBK/GB18030）") % {"file": path})


class Command(BaseCommand):
    help = (
        "导入一年的放假安排（国务院办公厅通知）：CSV（date,type,name）或 JSON（[{date,type,name}]），"
        "type 为 holiday（放假）或 workday（调休上班）。整年替换；任何一行有错则什么都不改。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--year", type=int, help=_("年份（默认取第一行的日期所在年份）"))
        parser.add_argument("--format", choices=["csv", "json"], help=_("文件格式（默认按内容判断）"))
        parser.add_argument("--note", default="", help=_("说明，如通知文号"))
        parser.add_argument("--dry-run", action="store_true", help=_("只校验，不写入"))

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(_("文件不存在：%(file)s") % {"file": path})
        note = options["note"] or path.name
        try:
            result = calendar_load_text(
                actor=None,
                text=read_text(path),
                year=options["year"],
                fmt=options["format"],
                note=note,
                dry_run=options["dry_run"],
            )
        except CalendarRejected as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(
                _("%(file)s：发现 %(n)d 处错误，未导入任何数据") % {"file": path.name, "n": len(exc.errors)}
            ) from None
        values = {
            "year": result.year,
            "holidays": result.holidays,
            "make_up": result.make_up_days,
            "changed": len(result.changed_dates),
        }
        if result.dry_run:
            self.stdout.write(
                _("校验通过：%(year)d 年放假 %(holidays)d 天、调休上班 %(make_up)d 天，将改变 %(changed)d 天的安排")
                % values
            )
        else:
            self.stdout.write(
                _("已导入 %(year)d 年：放假 %(holidays)d 天、调休上班 %(make_up)d 天，改变了 %(changed)d 天的安排")
                % values
            )
