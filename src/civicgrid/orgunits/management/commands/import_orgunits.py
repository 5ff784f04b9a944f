from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civicgrid.orgunits.services import orgunits_import


def read_text(path: Path) -> str:
    """Division lists arrive as UTF-8 (with or without BOM) or GB18030 from older systems."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CommandError(_("%(file)s: 无法识别文件编码（支持 UTF-8、GBK/GB18030）") % {"file": path})


class Command(BaseCommand):
    help = "导入行政区划列表（CSV：code,name,level,parent_code）。任何一行有错则什么都不导入。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("csv", type=Path)
        parser.add_argument("--dry-run", action="store_true", help=_("只校验，不写入"))

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["csv"]
        if not path.is_file():
            raise CommandError(_("文件不存在：%(file)s") % {"file": path})
        result = orgunits_import(text=read_text(path), actor=None, source_name=path.name, dry_run=options["dry_run"])
        if result.errors:
            for error in result.errors:
                self.stderr.write(str(error))
            n = len(result.errors)
            raise CommandError(
                ngettext(
                    "%(file)s：发现 %(n)d 处错误，未导入任何数据", "%(file)s：发现 %(n)d 处错误，未导入任何数据", n
                )
                % {"file": path.name, "n": n}
            )
        counts = {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
        if options["dry_run"]:
            self.stdout.write(_("校验通过：新增 %(created)s，更新 %(updated)s，未变 %(unchanged)s") % counts)
        else:
            self.stdout.write(_("导入完成：新增 %(created)s，更新 %(updated)s，未变 %(unchanged)s") % counts)
