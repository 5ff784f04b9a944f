from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.accounts.models import User
from civicgrid.core.errors import DomainError
from civicgrid.registry import imports
from civicgrid.registry.models_imports import ImportJob


class Command(BaseCommand):
    help = (
        "批量导入实有人口登记表（CSV：UTF-8 或 GBK/GB18030；XLSX）。先预检每一行，再按所选方式导入："
        "all_or_nothing（全部无误才导入，默认）或 valid_only（只导入无误的行）。同一文件重复导入不会产生变化。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV 或 XLSX 文件路径")
        parser.add_argument("--dry-run", action="store_true", help="只预检，不写入登记数据")
        parser.add_argument(
            "--mode", choices=list(ImportJob.Mode.values), default=ImportJob.Mode.ALL_OR_NOTHING, help="导入方式"
        )
        parser.add_argument("--user", default="", help="以此账号的权限和辖区导入（不填：以运维身份导入全区）")
        parser.add_argument("--crs", default="wgs84", help="经纬度的坐标系：wgs84（默认）、gcj02 或 bd09")
        parser.add_argument("--report", default="", help="把问题清单写入此 CSV 文件")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"文件不存在：{path}")
        actor = None
        if options["user"]:
            actor = User.objects.filter(username=options["user"], is_active=True).first()
            if actor is None:
                raise CommandError(f"账号不存在或已停用：{options['user']}")
        try:
            job = imports.import_validate(actor=actor, path=path, filename=path.name, crs=options["crs"])
            self._summary(job, "预检")
            if options["dry_run"] or job.status == ImportJob.Status.REJECTED:
                self._report(job, options["report"])
                if job.status == ImportJob.Status.REJECTED:
                    raise CommandError("文件无法导入（见上）")
                return
            job = imports.import_commit(actor=actor, job=job, mode=options["mode"])
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None
        self._summary(job, "导入")
        self._report(job, options["report"])
        if job.status != ImportJob.Status.COMMITTED:
            raise CommandError("未导入任何数据（见上）")

    def _summary(self, job: ImportJob, step: str) -> None:
        self.stdout.write(
            f"{step}：任务 #{job.pk} {job.filename}（{job.file_format or '—'}"
            f"{'，' + job.encoding if job.encoding else ''}，SHA-256 {job.sha256[:12]}…）"
            f"：{job.total_rows} 行，无误 {job.valid_rows} 行，有问题 {job.error_rows} 行，"
            f"用时 {job.seconds:.1f} 秒，状态：{job.get_status_display()}"
        )
        counts = job.summary.get("commit" if step == "导入" else "dry_run") or {}
        if counts:
            self.stdout.write("  " + "，".join(f"{imports.COUNT_LABELS.get(k, k)} {v}" for k, v in counts.items()))
        for problem in imports.import_problems(job=job)[:20]:
            where = f"第 {problem.row} 行" if problem.row else "文件"
            self.stdout.write(self.style.WARNING(f"  {where} {problem.column}：{problem.problem}"))
        if job.problem_count > 20:
            self.stdout.write(f"  ……共 {job.problem_count} 个问题")

    def _report(self, job: ImportJob, target: str) -> None:
        if not target:
            return
        with Path(target).open("wb") as file:
            for block in imports.report_csv(job=job):
                file.write(block)
        self.stdout.write(f"问题清单已写入 {target}")
