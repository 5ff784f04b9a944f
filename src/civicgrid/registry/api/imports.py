"""Register import API: upload a spreadsheet for a dry run, read the report, download the problems as CSV
or XLSX, commit all-or-nothing or only the valid rows. Thin: the work is `registry.imports`."""

from __future__ import annotations

from typing import Any

from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.registry import imports
from civicgrid.registry.models_imports import ImportJob, ImportProblem

PROBLEMS_SHOWN = 200


class ImportProblemSerializer(serializers.ModelSerializer[ImportProblem]):
    class Meta:
        model = ImportProblem
        fields = ["row", "column", "problem"]


class ImportJobSerializer(serializers.ModelSerializer[ImportJob]):
    status = serializers.CharField(read_only=True, help_text="validated | rejected | committed | failed")
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    mode = serializers.CharField(read_only=True, help_text=gettext_lazy("all_or_nothing | valid_only（导入后）"))
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True, default=None)
    committed_by = serializers.CharField(source="committed_by.username", read_only=True, allow_null=True, default=None)
    can_commit = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "filename",
            "size",
            "sha256",
            "file_format",
            "encoding",
            "status",
            "status_display",
            "total_rows",
            "valid_rows",
            "error_rows",
            "problem_count",
            "summary",
            "columns",
            "options",
            "mode",
            "created_at",
            "created_by",
            "committed_at",
            "committed_by",
            "seconds",
            "can_commit",
        ]

    def get_can_commit(self, job: ImportJob) -> bool:
        return imports.can_commit(job)


class ImportDetailSerializer(ImportJobSerializer):
    problems = serializers.SerializerMethodField()
    problems_shown = serializers.SerializerMethodField()

    class Meta(ImportJobSerializer.Meta):
        fields = [*ImportJobSerializer.Meta.fields, "problems_shown", "problems"]

    def get_problems(self, job: ImportJob) -> list[dict[str, Any]]:
        return list(ImportProblemSerializer(imports.import_problems(job=job)[:PROBLEMS_SHOWN], many=True).data)

    def get_problems_shown(self, job: ImportJob) -> int:
        return min(job.problem_count, PROBLEMS_SHOWN)


class ImportListView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=ImportJobSerializer(many=True), summary=gettext_lazy("批量导入任务（辖区内，最近 50 个）"))
    def get(self, request: Request) -> Response:
        jobs = imports.import_jobs_visible(actor=request.user)[:50]
        return Response(ImportJobSerializer(jobs, many=True).data)

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "ImportUpload",
                {
                    "file": serializers.FileField(help_text=gettext_lazy("CSV（UTF-8 或 GBK）或 XLSX")),
                    "crs": serializers.ChoiceField(
                        choices=["wgs84", "gcj02", "bd09"],
                        required=False,
                        help_text=gettext_lazy("经纬度坐标系（文件中没有“坐标系”列时），默认 wgs84"),
                    ),
                },
            )
        },
        responses={201: ImportDetailSerializer},
        summary=gettext_lazy("上传登记表并预检（不写入登记数据）"),
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise serializers.ValidationError({"file": [_("请选择要导入的文件")]})
        job = imports.import_validate(
            actor=request.user,
            file=upload,
            filename=upload.name or "upload",
            crs=str(request.data.get("crs") or "wgs84"),
        )
        return Response(ImportDetailSerializer(job).data, status=201)


class ImportDetailView(APIView):
    @extend_schema(responses=ImportDetailSerializer, summary=gettext_lazy("导入任务：预检或导入结果与问题"))
    def get(self, request: Request, job_id: int) -> Response:
        job = imports.import_job_get(actor=request.user, job_id=job_id)
        return Response(ImportDetailSerializer(job).data)


class ImportCommitView(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=inline_serializer("ImportCommit", {"mode": serializers.ChoiceField(choices=ImportJob.Mode.choices)}),
        responses=ImportDetailSerializer,
        summary=gettext_lazy("导入：全部无误才导入，或只导入无误的行"),
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = imports.import_job_get(actor=request.user, job_id=job_id)
        job = imports.import_commit(actor=request.user, job=job, mode=str(request.data.get("mode", "")))
        return Response(ImportDetailSerializer(job).data)


class ImportReportView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["csv", "xlsx"])],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        summary=gettext_lazy("下载问题清单（行号、列、问题）"),
    )
    def get(self, request: Request, job_id: int) -> HttpResponseBase:
        job = imports.import_job_get(actor=request.user, job_id=job_id)
        return imports.report_response(actor=request.user, job=job, fmt=request.query_params.get("format", "csv"))
