"""API for the data-quality queues and spot checks. Thin: parse, call a selector or service, serialise."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.accounts.selectors import orgunit_get_visible
from civicgrid.core.api import Pagination
from civicgrid.core.idnumbers import DocumentType
from civicgrid.registry import quality, spotchecks
from civicgrid.registry.api.views import PersonInputSerializer
from civicgrid.registry.models import QualityIssue, SpotCheck, SpotCheckHouse, SpotCheckPerson
from civicgrid.registry.services import PersonInput

# --- quality -------------------------------------------------------------------------------------------


class IssueSerializer(serializers.ModelSerializer[QualityIssue]):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    person_id = serializers.IntegerField(read_only=True, allow_null=True)
    house_id = serializers.IntegerField(read_only=True, allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, allow_null=True, default=None)
    text = serializers.CharField(
        read_only=True,
        help_text=gettext_lazy("说明，以请求的语言显示（message 为保存的中文原文，用于搜索）"),
    )

    class Meta:
        model = QualityIssue
        fields = [
            "id",
            "kind",
            "kind_display",
            "key",
            "person_id",
            "house_id",
            "message",
            "text",
            "detail",
            "status",
            "status_display",
            "detected_at",
            "last_seen_at",
            "decided_by",
            "decided_at",
            "decision_note",
        ]


class DecideSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=[
            (QualityIssue.Status.CONFIRMED, QualityIssue.Status.CONFIRMED.label),
            (QualityIssue.Status.DISMISSED, QualityIssue.Status.DISMISSED.label),
            (QualityIssue.Status.RESOLVED, QualityIssue.Status.RESOLVED.label),
        ]
    )
    note = serializers.CharField(max_length=300)


class IssueListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=QualityIssue.Kind.values),
            OpenApiParameter(
                "status", str, description=gettext_lazy("open（默认）、confirmed、dismissed、resolved 或 all")
            ),
            OpenApiParameter("community", str, description=gettext_lazy("社区代码")),
            OpenApiParameter("q", str, description=gettext_lazy("说明中包含的文字")),
        ],
        responses=IssueSerializer(many=True),
        summary=gettext_lazy("数据质量问题队列（辖区内）"),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        status = params.get("status", QualityIssue.Status.OPEN)
        issues = quality.quality_issue_list(
            actor=request.user,
            kind=params.get("kind") or None,
            status=None if status == "all" else status,
            community=params.get("community") or None,
            q=params.get("q") or None,
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(issues, request, view=self)
        return paginator.get_paginated_response(IssueSerializer(page, many=True).data)


class IssueCountsView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "QualityCounts", {"counts": serializers.DictField(), "last_scan": serializers.DateTimeField()}
        ),
        summary=gettext_lazy("各类数据质量问题数量"),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {"counts": quality.quality_issue_counts(actor=request.user), "last_scan": quality.quality_last_scan()}
        )


class IssueDetailView(APIView):
    @extend_schema(responses=IssueSerializer, summary=gettext_lazy("数据质量问题详情"))
    def get(self, request: Request, issue_id: int) -> Response:
        return Response(IssueSerializer(quality.quality_issue_get(actor=request.user, issue_id=issue_id)).data)


class IssueDecideView(APIView):
    @extend_schema(
        request=DecideSerializer, responses=IssueSerializer, summary=gettext_lazy("记录处理结果（不改动登记数据）")
    )
    def post(self, request: Request, issue_id: int) -> Response:
        issue = quality.quality_issue_get(actor=request.user, issue_id=issue_id)
        payload = DecideSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        issue = quality.quality_decide(
            actor=request.user,
            issue=issue,
            status=payload.validated_data["status"],
            note=payload.validated_data["note"],
        )
        return Response(IssueSerializer(issue).data)


# --- spot checks ---------------------------------------------------------------------------------------


class SpotCheckSerializer(serializers.ModelSerializer[SpotCheck]):
    area = serializers.CharField(source="area.code", read_only=True)
    area_name = serializers.CharField(source="area.name", read_only=True)
    seed = serializers.CharField(read_only=True, help_text=gettext_lazy("随机种子（字符串，避免 JavaScript 丢失精度）"))
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True, default=None)
    item_count = serializers.IntegerField(read_only=True, required=False)
    visited_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = SpotCheck
        fields = [
            "id",
            "title",
            "area",
            "area_name",
            "seed",
            "per_community",
            "year",
            "month",
            "created_by",
            "created_at",
            "item_count",
            "visited_count",
        ]


class FoundPersonSerializer(serializers.ModelSerializer[SpotCheckPerson]):
    class Meta:
        model = SpotCheckPerson
        fields = ["id", "person", "name", "id_masked", "is_migrant", "was_registered", "registered_on_spot"]


class ItemSerializer(serializers.ModelSerializer[SpotCheckHouse]):
    address = serializers.SerializerMethodField()
    community = serializers.CharField(source="community.code", read_only=True)
    community_name = serializers.CharField(source="community.name", read_only=True)
    inspector = serializers.CharField(source="inspector.username", read_only=True, allow_null=True, default=None)
    persons = FoundPersonSerializer(many=True, read_only=True)

    class Meta:
        model = SpotCheckHouse
        fields = [
            "id",
            "house",
            "address",
            "community",
            "community_name",
            "inspector",
            "visited_on",
            "house_found",
            "house_registered",
            "note",
            "persons",
        ]

    def get_address(self, item: SpotCheckHouse) -> str:
        return f"{item.house.building}{item.house.room}"


class DrawSerializer(serializers.Serializer[Any]):
    area = serializers.CharField(help_text=gettext_lazy("抽查范围（区、镇街或社区代码）"))
    per_community = serializers.IntegerField(min_value=1, max_value=spotchecks.MAX_PER_COMMUNITY)
    seed = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
    year = serializers.IntegerField(required=False, allow_null=True, default=None)
    month = serializers.IntegerField(required=False, allow_null=True, default=None)
    title = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


class FoundInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=60)
    id_type = serializers.ChoiceField(choices=DocumentType.choices, default=DocumentType.RESIDENT_ID)
    id_number = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    is_migrant = serializers.BooleanField(required=False, allow_null=True, default=None)
    was_registered = serializers.BooleanField(required=False, allow_null=True, default=None)


class RecordSerializer(serializers.Serializer[Any]):
    house_found = serializers.BooleanField()
    house_registered = serializers.BooleanField(required=False, allow_null=True, default=None)
    persons = FoundInputSerializer(many=True, required=False, default=list)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    visited_on = serializers.DateField(required=False, allow_null=True, default=None)


class OnSpotSerializer(serializers.Serializer[Any]):
    person = PersonInputSerializer()
    found = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text=gettext_lazy("已记录的发现人员 id")
    )
    on = serializers.DateField(required=False, allow_null=True, default=None)


class SpotCheckListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("year", int)],
        responses=SpotCheckSerializer(many=True),
        summary=gettext_lazy("抽查列表"),
    )
    def get(self, request: Request) -> Response:
        year = request.query_params.get("year")
        checks = spotchecks.spotcheck_list(actor=request.user, year=int(year) if year and year.isdigit() else None)
        paginator = Pagination()
        page = paginator.paginate_queryset(checks, request, view=self)
        return paginator.get_paginated_response(SpotCheckSerializer(page, many=True).data)

    @extend_schema(
        request=DrawSerializer,
        responses={201: SpotCheckSerializer},
        summary=gettext_lazy("抽取样本（按社区分层随机抽取）"),
    )
    def post(self, request: Request) -> Response:
        payload = DrawSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        area = orgunit_get_visible(actor=request.user, code=data["area"])
        check = spotchecks.spotcheck_draw(
            actor=request.user,
            area=area,
            per_community=data["per_community"],
            seed=data["seed"],
            year=data["year"],
            month=data["month"],
            title=data["title"],
        )
        check = spotchecks.spotcheck_get(actor=request.user, check_id=check.pk)
        return Response(SpotCheckSerializer(check).data, status=201)


class SpotCheckDetailView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "SpotCheckDetail", {"check": SpotCheckSerializer(), "houses": ItemSerializer(many=True)}
        ),
        summary=gettext_lazy("抽查详情（辖区内的抽查房屋）"),
    )
    def get(self, request: Request, check_id: int) -> Response:
        check = spotchecks.spotcheck_get(actor=request.user, check_id=check_id)
        items = spotchecks.spotcheck_items(actor=request.user, check=check)
        return Response({"check": SpotCheckSerializer(check).data, "houses": ItemSerializer(items, many=True).data})


class SpotCheckVerifyView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "SpotCheckVerify",
            {
                "matches": serializers.BooleanField(),
                "missing": serializers.ListField(child=serializers.IntegerField()),
                "added": serializers.ListField(child=serializers.IntegerField()),
            },
        ),
        summary=gettext_lazy("按种子重新抽取并与保存的样本比对"),
    )
    def get(self, request: Request, check_id: int) -> Response:
        check = spotchecks.spotcheck_get(actor=request.user, check_id=check_id)
        return Response(spotchecks.spotcheck_verify(check=check))


class ItemRecordView(APIView):
    @extend_schema(request=RecordSerializer, responses=ItemSerializer, summary=gettext_lazy("记录走访结果"))
    def post(self, request: Request, check_id: int, item_id: int) -> Response:
        check = spotchecks.spotcheck_get(actor=request.user, check_id=check_id)
        item = spotchecks.spotcheck_item_get(actor=request.user, check=check, item_id=item_id)
        payload = RecordSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        item = spotchecks.spotcheck_record_house(
            actor=request.user,
            item=item,
            house_found=data["house_found"],
            house_registered=data["house_registered"],
            persons=[spotchecks.FoundPerson(**p) for p in data["persons"]],
            note=data["note"],
            visited_on=data["visited_on"],
        )
        item = spotchecks.spotcheck_item_get(actor=request.user, check=check, item_id=item.pk)
        return Response(ItemSerializer(item).data)


class ItemRegisterView(APIView):
    @extend_schema(request=OnSpotSerializer, responses={201: FoundPersonSerializer}, summary=gettext_lazy("现场补登"))
    def post(self, request: Request, check_id: int, item_id: int) -> Response:
        check = spotchecks.spotcheck_get(actor=request.user, check_id=check_id)
        item = spotchecks.spotcheck_item_get(actor=request.user, check=check, item_id=item_id)
        payload = OnSpotSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        found = item.persons.filter(pk=data["found"]).first() if data["found"] else None
        if data["found"] and found is None:
            raise serializers.ValidationError({"found": [_("该人员不属于这户抽查记录")]})
        person = spotchecks.spotcheck_register_on_spot(
            actor=request.user, item=item, person_input=PersonInput(**data["person"]), found=found, on=data["on"]
        )
        return Response(FoundPersonSerializer(person).data, status=201)


def ratio_json(ratio: spotchecks.Ratio, target: int) -> dict[str, Any]:
    percent = ratio.percent
    return {
        "found": ratio.denominator,
        "registered": ratio.numerator,
        "rate": None if percent is None else round(percent, 2),
        "target": target,
        "met": ratio.met(target),
    }


def figures_json(figures: spotchecks.Figures, table: spotchecks.RateTable) -> dict[str, Any]:
    return {
        "houses": ratio_json(figures.houses, table.house_target),
        "migrants": ratio_json(figures.migrants, table.migrant_target),
    }


def row_json(row: spotchecks.RateRow, table: spotchecks.RateTable) -> dict[str, Any]:
    return {
        "unit": row.unit.code,
        "unit_name": row.unit.name,
        "total": figures_json(row.total, table),
        "months": {str(m): figures_json(f, table) for m, f in sorted(row.months.items())},
    }


class RatesView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "level", str, enum=list(spotchecks.RATE_LEVELS), description=gettext_lazy("默认 community")
            ),
            OpenApiParameter("year", int, description=gettext_lazy("默认今年")),
            OpenApiParameter("month", int, description=gettext_lazy("不填则为全年（各月合计之比）")),
        ],
        responses=inline_serializer(
            "RegistrationRates",
            {
                "level": serializers.CharField(),
                "year": serializers.IntegerField(),
                "month": serializers.IntegerField(allow_null=True),
                "method": serializers.CharField(),
                "rows": serializers.ListField(child=serializers.DictField()),
                "area": serializers.DictField(),
            },
        ),
        summary=gettext_lazy("登记率（房屋、来穗人员）"),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        try:
            year = int(params.get("year") or timezone.localdate().year)
            month = int(params["month"]) if params.get("month") else None
        except ValueError:
            raise serializers.ValidationError({"year": [_("年度和月份应为整数")]}) from None
        table = spotchecks.registration_rates(
            actor=request.user, level=params.get("level") or "community", year=year, month=month
        )
        return Response(
            {
                "level": table.level,
                "year": table.year,
                "month": table.month,
                "method": "ratio_of_sums",
                "rows": [row_json(row, table) for row in table.rows],
                "area": row_json(table.area, table),
            }
        )
