"""Pages: bulk import of the register. Upload → dry-run report (counts, problems, downloadable list) →
commit all-or-nothing or only the valid rows → result. Thin: the work is `registry.imports`."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from civicgrid.accounts.models import User
from civicgrid.core.errors import DomainError
from civicgrid.registry import imports
from civicgrid.registry.models_imports import ImportJob

PROBLEMS_SHOWN = 200
CRS_CHOICES = [
    ("wgs84", "WGS-84 / CGCS2000"),
    ("gcj02", gettext_lazy("GCJ-02（高德、腾讯）")),
    ("bd09", gettext_lazy("BD-09（百度）")),
]


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _counts(counts: dict[str, int]) -> list[tuple[Any, int]]:
    return [(imports.COUNT_LABELS.get(key, key), value) for key, value in counts.items() if value]


@login_required
def import_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    jobs = list(imports.import_jobs_visible(actor=user)[:30])  # refuses those who may not import
    errors: list[str] = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors = [_("请选择要导入的文件（CSV 或 XLSX）")]
        else:
            try:
                job = imports.import_validate(
                    actor=user, file=upload, filename=upload.name or "upload", crs=request.POST.get("crs") or "wgs84"
                )
            except DomainError as exc:
                errors = [str(m) for messages_ in exc.fields.values() for m in messages_] or [str(exc.message)]
            else:
                return redirect("registry_imports:detail", job_id=job.pk)
    return render(
        request,
        "registry/imports.html",
        {
            "jobs": jobs,
            "errors": errors,
            "crs_choices": CRS_CHOICES,
            "columns": imports.COLUMNS,
        },
        status=400 if errors else 200,
    )


@login_required
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = imports.import_job_get(actor=_user(request), job_id=job_id)
    problems = list(imports.import_problems(job=job)[:PROBLEMS_SHOWN])
    committed_phase = job.status in (ImportJob.Status.COMMITTED, ImportJob.Status.FAILED)
    return render(
        request,
        "registry/import_detail.html",
        {
            "job": job,
            "problems": problems,
            "more_problems": max(0, job.problem_count - len(problems)),
            "dry_run_counts": _counts(job.summary.get("dry_run") or {}),
            "commit_counts": _counts(job.summary.get("commit") or {}),
            "committed_phase": committed_phase,
            "can_commit": imports.can_commit(job),
            "modes": ImportJob.Mode.choices,
            "mapped": (job.columns or {}).get("mapped", {}),
            "ignored": (job.columns or {}).get("ignored", []),
            "same_file": job.summary.get("same_file_committed"),
        },
    )


@login_required
@require_POST
def import_commit(request: HttpRequest, job_id: int) -> HttpResponse:
    user = _user(request)
    job = imports.import_job_get(actor=user, job_id=job_id)
    try:
        job = imports.import_commit(actor=user, job=job, mode=request.POST.get("mode", ""))
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("registry_imports:detail", job_id=job.pk)
    if job.status == ImportJob.Status.COMMITTED:
        messages.success(
            request,
            _("已导入：%(valid)d 行无误并已处理，%(errors)d 行有问题未导入")
            % {"valid": job.valid_rows, "errors": job.error_rows},
        )
    else:
        messages.error(request, _("未导入任何数据：发现 %(n)d 个问题，登记数据保持不变") % {"n": job.problem_count})
    return redirect("registry_imports:detail", job_id=job.pk)


@login_required
def import_report(request: HttpRequest, job_id: int, fmt: str) -> HttpResponseBase:
    user = _user(request)
    job = imports.import_job_get(actor=user, job_id=job_id)
    return imports.report_response(actor=user, job=job, fmt=fmt)
