"""Administrator endpoints of the event catalogue, as the settings pages: the categories (two levels;
created, edited, deactivated, never deleted), dispatch rules (ordered, first match wins; never deleted,
only deactivated), new versions of a category's time limits (old versions are never edited), and the
working-day calendar (years loaded, a year's days, loading a year's arrangement, re-seeding from the
chinese-calendar package). District administrators only: reads check the capability in `api.reads` (the
catalogue's in `events.admin_services`), writes in `events.admin_services` and `core.workcalendar`;
refusals are audited."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability
from civicgrid.core import workcalendar
from civicgrid.core.errors import NotFound, ValidationFailed
from civicgrid.events import admin_services
from civicgrid.events.api import reads
from civicgrid.events.api.views import EventCodeNameSerializer
from civicgrid.events.models import DispatchRule, TimeLimit

# --- dispatch rules -----------------------------------------------------------------------------------


class DispatchRuleSerializer(serializers.ModelSerializer[DispatchRule]):
    category = EventCodeNameSerializer(read_only=True, allow_null=True)
    area = EventCodeNameSerializer(read_only=True, allow_null=True)
    department = EventCodeNameSerializer(read_only=True)

    class Meta:
        model = DispatchRule
        fields = ["id", "order", "name", "category", "area", "weekdays", "time_from", "time_to", "department", "active"]


def _text(help_text: Any) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, allow_null=True, help_text=help_text)


class DispatchRuleInputSerializer(serializers.Serializer[Any]):
    """Every field optional here: the service names what is missing (in Chinese) and keeps, on an edit,
    what is not given."""

    name = _text(gettext_lazy("规则名称（必填，最多 100 字）"))
    category = _text(gettext_lazy("事件分类代码（大类或小类）；空为不限"))
    area = _text(gettext_lazy("区域：组织单元代码（含下级）；空为全区"))
    weekdays = _text(gettext_lazy("星期 1–7，逗号分隔（1 为星期一）；空为不限"))
    time_from = _text(gettext_lazy("开始时间 HH:MM（与结束时间同填或同空）"))
    time_to = _text(gettext_lazy("结束时间 HH:MM"))
    department = _text(gettext_lazy("派往部门代码（必填；须服务该区域）"))
    active = serializers.BooleanField(required=False, help_text=gettext_lazy("启用（新建时默认启用）"))


class DispatchRuleMoveSerializer(serializers.Serializer[Any]):
    direction = serializers.CharField(help_text=gettext_lazy("up 上移 | down 下移"))


def _rule_fields(request: Request) -> dict[str, Any]:
    payload = DispatchRuleInputSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    return dict(payload.validated_data)


class DispatchRuleListView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="events_dispatch_rules_list",
        responses=DispatchRuleSerializer(many=True),
        summary=gettext_lazy("派遣规则（按顺序，先匹配者生效）"),
    )
    def get(self, request: Request) -> Response:
        return Response(DispatchRuleSerializer(reads.dispatch_rules_visible(actor=request.user), many=True).data)

    @extend_schema(
        request=DispatchRuleInputSerializer,
        responses={201: DispatchRuleSerializer},
        summary=gettext_lazy("新增派遣规则（排在最后）"),
    )
    def post(self, request: Request) -> Response:
        require(request.user, admin_services.CAPABILITY, action="events.dispatch_rule.create")
        rule = admin_services.dispatch_rule_save(actor=request.user, **_rule_fields(request))
        return Response(DispatchRuleSerializer(rule).data, status=201)


class DispatchRuleDetailView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="events_dispatch_rules_retrieve",
        responses=DispatchRuleSerializer,
        summary=gettext_lazy("派遣规则"),
    )
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(DispatchRuleSerializer(reads.dispatch_rule_get(actor=request.user, rule_id=rule_id)).data)

    @extend_schema(
        request=DispatchRuleInputSerializer,
        responses=DispatchRuleSerializer,
        summary=gettext_lazy("修改派遣规则（只改所给字段；active=false 即停用）"),
    )
    def patch(self, request: Request, rule_id: int) -> Response:
        rule = reads.dispatch_rule_get(actor=request.user, rule_id=rule_id)
        saved = admin_services.dispatch_rule_save(actor=request.user, rule=rule, **_rule_fields(request))
        return Response(DispatchRuleSerializer(reads.dispatch_rule_get(actor=request.user, rule_id=saved.pk)).data)


class DispatchRuleMoveView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=DispatchRuleMoveSerializer,
        responses=DispatchRuleSerializer(many=True),
        summary=gettext_lazy("上移或下移派遣规则；返回调整后的全部规则"),
    )
    def post(self, request: Request, rule_id: int) -> Response:
        rule = reads.dispatch_rule_get(actor=request.user, rule_id=rule_id)
        payload = DispatchRuleMoveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        admin_services.dispatch_rule_move(actor=request.user, rule=rule, direction=payload.validated_data["direction"])
        return Response(DispatchRuleSerializer(reads.dispatch_rules_visible(actor=request.user), many=True).data)


# --- time limits --------------------------------------------------------------------------------------


class TimeLimitSerializer(serializers.ModelSerializer[TimeLimit]):
    category = serializers.CharField(source="category.code", read_only=True)
    handle_unit_label = serializers.CharField(source="get_handle_unit_display", read_only=True)

    class Meta:
        model = TimeLimit
        fields = [
            "id",
            "category",
            "valid_from",
            "handle_value",
            "handle_unit",
            "handle_unit_label",
            "file_hours",
            "dispatch_hours",
            "accept_hours",
            "created_at",
        ]


class TimeLimitRowSerializer(serializers.Serializer[Any]):
    category = EventCodeNameSerializer()
    major = EventCodeNameSerializer(source="category.parent")
    current = TimeLimitSerializer(allow_null=True, help_text=gettext_lazy("现行版本"))
    upcoming = TimeLimitSerializer(many=True, help_text=gettext_lazy("尚未生效的版本，按生效时间"))
    versions = TimeLimitSerializer(many=True, help_text=gettext_lazy("全部版本，新的在前"))


class TimeLimitInputSerializer(serializers.Serializer[Any]):
    category = serializers.CharField(help_text=gettext_lazy("事件小类代码"))
    handle_value = serializers.CharField(help_text=gettext_lazy("处置时限（1–999 的整数）"))
    handle_unit = serializers.CharField(help_text=gettext_lazy("hours 工作小时 | days 工作日"))
    valid_from = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text=gettext_lazy("生效时间（不早于现在）")
    )
    file_hours = _text(gettext_lazy("立案时限（工作小时，默认 1）"))
    dispatch_hours = _text(gettext_lazy("派遣时限（工作小时，默认 1）"))
    accept_hours = _text(gettext_lazy("签收时限（工作小时，默认 1）"))


class TimeLimitListView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="events_time_limits_list",
        parameters=[OpenApiParameter("category", str, description=gettext_lazy("只看该小类"))],
        responses=TimeLimitRowSerializer(many=True),
        summary=gettext_lazy("各事件小类的处置时限：现行、待生效与历史版本"),
    )
    def get(self, request: Request) -> Response:
        rows = reads.time_limit_rows(
            actor=request.user, now=timezone.now(), category=request.query_params.get("category", "").strip()
        )
        return Response(TimeLimitRowSerializer(rows, many=True).data)

    @extend_schema(
        request=TimeLimitInputSerializer,
        responses={201: TimeLimitSerializer},
        summary=gettext_lazy("新增时限版本（自生效时间起上报的事件适用；已报事件不变）"),
    )
    def post(self, request: Request) -> Response:
        require(request.user, admin_services.CAPABILITY, action="events.time_limit.add")
        payload = TimeLimitInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        limit = admin_services.time_limit_add(
            actor=request.user,
            category=reads.time_limit_category(code=data["category"]),
            handle_value=data["handle_value"],
            handle_unit=data["handle_unit"],
            valid_from=data["valid_from"],
            file_hours=data.get("file_hours"),
            dispatch_hours=data.get("dispatch_hours"),
            accept_hours=data.get("accept_hours"),
        )
        return Response(TimeLimitSerializer(limit).data, status=201)


# --- the catalogue: major and minor categories --------------------------------------------------------


class CatalogueCategorySerializer(serializers.Serializer[Any]):
    code = serializers.CharField(source="category.code")
    name = serializers.CharField(source="category.name")
    level = serializers.CharField(help_text=gettext_lazy("major 大类 | minor 小类"))
    sort = serializers.IntegerField(source="category.sort")
    default_department_kind = serializers.CharField(
        source="category.default_department_kind", help_text=gettext_lazy("部门类别；小类为空时沿用大类")
    )
    default_department_kind_label = serializers.CharField(source="kind_label")
    self_fixable = serializers.BooleanField(source="category.self_fixable")
    active = serializers.BooleanField(source="category.active")


class CatalogueMinorSerializer(CatalogueCategorySerializer):
    current_limit = TimeLimitSerializer(source="current", allow_null=True, help_text=gettext_lazy("现行处置时限"))
    upcoming_limits = TimeLimitSerializer(source="upcoming", many=True, help_text=gettext_lazy("尚未生效的版本"))


class CatalogueMajorSerializer(CatalogueCategorySerializer):
    minors = CatalogueMinorSerializer(source="children", many=True)


class CategoryDetailSerializer(CatalogueMinorSerializer):
    major = EventCodeNameSerializer(source="category.parent", allow_null=True, help_text=gettext_lazy("小类所属大类"))
    code_locked = serializers.BooleanField(help_text=gettext_lazy("代码已固定：小类已有事件使用，或大类下已有小类"))
    limits = TimeLimitSerializer(source="versions", many=True, help_text=gettext_lazy("全部时限版本，新的在前"))
    minors = CatalogueCategorySerializer(source="children", many=True, help_text=gettext_lazy("大类的小类"))


class CategoryCreateInputSerializer(serializers.Serializer[Any]):
    """Strings and flags only: the service names what is wrong (in Chinese)."""

    major = _text(gettext_lazy("所属大类代码；新增大类时省略或留空"))
    code = _text(gettext_lazy("代码：大类两位数字（如 11）；小类为大类代码加两位数字（如 0605）"))
    name = _text(gettext_lazy("名称（必填，最多 60 字）"))
    sort = _text(gettext_lazy("排序（0–9999，小的在前）；省略则排在最后"))
    default_department_kind = _text(gettext_lazy("默认处置部门类别；小类留空则沿用大类"))
    self_fixable = serializers.BooleanField(
        required=False, default=False, help_text=gettext_lazy("网格员可自行处置（仅小类）")
    )
    handle_value = _text(gettext_lazy("首个处置时限（小类必填，1–999 的整数），自现在起生效"))
    handle_unit = _text(gettext_lazy("hours 工作小时 | days 工作日（小类必填）"))


class CategoryUpdateInputSerializer(serializers.Serializer[Any]):
    """Only the fields given change. Time limits change by a new version (`POST /api/events/time-limits/`)."""

    code = _text(gettext_lazy("新代码；有事件使用该小类（或大类下已有小类）后不能修改"))
    name = _text(gettext_lazy("名称（最多 60 字）"))
    sort = _text(gettext_lazy("排序（0–9999，小的在前）"))
    default_department_kind = _text(gettext_lazy("默认处置部门类别；空为不设（小类沿用大类）"))
    self_fixable = serializers.BooleanField(required=False, help_text=gettext_lazy("网格员可自行处置（仅小类）"))
    active = serializers.BooleanField(
        required=False, help_text=gettext_lazy("false 停用：不再出现在上报表单中，已有事件不受影响")
    )
    with_minors = serializers.BooleanField(
        required=False, default=False, help_text=gettext_lazy("停用大类时同时停用其下全部启用的小类（否则拒绝）")
    )


class CategoryListView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="events_catalogue_categories_list",
        responses=CatalogueMajorSerializer(many=True),
        summary=gettext_lazy("事件分类（管理）：全部大类及其小类，含停用的，附现行处置时限"),
    )
    def get(self, request: Request) -> Response:
        tree = admin_services.catalogue_tree(actor=request.user, now=timezone.now())
        return Response(CatalogueMajorSerializer(tree, many=True).data)

    @extend_schema(
        operation_id="events_catalogue_categories_create",
        request=CategoryCreateInputSerializer,
        responses={201: CategoryDetailSerializer},
        summary=gettext_lazy("新增大类或小类（小类须给出首个处置时限）"),
    )
    def post(self, request: Request) -> Response:
        require(request.user, admin_services.CAPABILITY, action="events.category.create")
        payload = CategoryCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        parent_code = str(data.pop("major", "") or "").strip()
        parent = None
        if parent_code:
            try:
                parent = admin_services.category_get(actor=request.user, code=parent_code)
            except NotFound:
                raise ValidationFailed(
                    fields={"major": [_("所属大类“%(code)s”不存在") % {"code": parent_code}]}
                ) from None
        created = admin_services.category_create(actor=request.user, parent=parent, **data)
        detail = admin_services.category_detail(actor=request.user, code=created.code, now=timezone.now())
        return Response(CategoryDetailSerializer(detail).data, status=201)


class CategoryDetailView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="events_catalogue_categories_retrieve",
        responses=CategoryDetailSerializer,
        summary=gettext_lazy("事件分类（管理）：一个分类，含全部时限版本、代码是否已固定"),
    )
    def get(self, request: Request, code: str) -> Response:
        detail = admin_services.category_detail(actor=request.user, code=code, now=timezone.now())
        return Response(CategoryDetailSerializer(detail).data)

    @extend_schema(
        operation_id="events_catalogue_categories_partial_update",
        request=CategoryUpdateInputSerializer,
        responses=CategoryDetailSerializer,
        summary=gettext_lazy("修改事件分类（只改所给字段；active=false 即停用）"),
    )
    def patch(self, request: Request, code: str) -> Response:
        category = admin_services.category_get(actor=request.user, code=code)
        payload = CategoryUpdateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        fields = dict(payload.validated_data)
        with_minors = fields.pop("with_minors", False)
        saved = admin_services.category_update(actor=request.user, category=category, with_minors=with_minors, **fields)
        detail = admin_services.category_detail(actor=request.user, code=saved.code, now=timezone.now())
        return Response(CategoryDetailSerializer(detail).data)


# --- the working calendar -----------------------------------------------------------------------------


class YearStatusSerializer(serializers.Serializer[Any]):
    year = serializers.IntegerField()
    loaded = serializers.BooleanField(help_text=gettext_lazy("未导入的年份按周一至周五减固定假日计算，时限为暂定"))
    provisional = serializers.BooleanField()
    source = serializers.CharField(help_text="chinese-calendar | administrator")  # type: ignore[assignment]  # a data field, not Field.source
    source_label = serializers.CharField()
    loaded_at = serializers.DateTimeField(allow_null=True)
    loaded_by = serializers.CharField()
    note = serializers.CharField()
    holidays = serializers.IntegerField()
    make_up_days = serializers.IntegerField()


class CalendarSerializer(serializers.Serializer[Any]):
    years = YearStatusSerializer(many=True, help_text=gettext_lazy("已导入的年份"))
    current = YearStatusSerializer(help_text=gettext_lazy("今年"))
    next = YearStatusSerializer(help_text=gettext_lazy("明年"))


class CalendarDaySerializer(serializers.Serializer[Any]):
    date = serializers.DateField()
    name = serializers.CharField()


class CalendarYearSerializer(serializers.Serializer[Any]):
    status = YearStatusSerializer()
    holidays = CalendarDaySerializer(many=True, help_text=gettext_lazy("放假（含假期中的周末）"))
    make_up_days = CalendarDaySerializer(many=True, help_text=gettext_lazy("调休上班"))
    fallback = CalendarDaySerializer(many=True, help_text=gettext_lazy("未导入时采用的固定日期假日"))


class CalendarRowInputSerializer(serializers.Serializer[Any]):
    date = serializers.CharField(help_text="YYYY-MM-DD")
    type = serializers.CharField(help_text=gettext_lazy("holiday 放假 | workday 调休上班"))
    name = serializers.CharField(required=False, allow_blank=True, default="")


class CalendarLoadInputSerializer(serializers.Serializer[Any]):
    days = CalendarRowInputSerializer(many=True, help_text=gettext_lazy("该年全部放假日与调休上班日"))
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    dry_run = serializers.BooleanField(required=False, default=False, help_text=gettext_lazy("只校验，不写入"))


class CalendarImportInputSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(required=False, help_text=gettext_lazy("CSV 或 JSON（UTF-8 或 GB18030，不超过 1 MB）"))
    text = serializers.CharField(required=False, allow_blank=True, default="", help_text=gettext_lazy("或粘贴文件内容"))
    year = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text=gettext_lazy("省略时取首个日期的年份")
    )
    format = serializers.ChoiceField(choices=["csv", "json"], required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    dry_run = serializers.BooleanField(required=False, default=False)


class CalendarLoadResultSerializer(serializers.Serializer[Any]):
    year = serializers.IntegerField()
    holidays = serializers.IntegerField()
    make_up_days = serializers.IntegerField()
    replaced = serializers.CharField(help_text=gettext_lazy("被替换的安排来源；原未导入为空"))
    changed_dates = serializers.ListField(
        child=serializers.DateField(), help_text=gettext_lazy("工作/休息状态有变化的日期")
    )
    dry_run = serializers.BooleanField()


class CalendarSeedInputSerializer(serializers.Serializer[Any]):
    refresh = serializers.BooleanField(
        required=False, default=True, help_text=gettext_lazy("软件包数据有变化的年份重新写入（管理员导入的年份不变）")
    )
    dry_run = serializers.BooleanField(required=False, default=False)


class CalendarSeedResultSerializer(serializers.Serializer[Any]):
    seeded = serializers.ListField(child=serializers.IntegerField())
    unchanged = serializers.ListField(child=serializers.IntegerField())
    kept = serializers.ListField(child=serializers.IntegerField(), help_text=gettext_lazy("管理员导入、保持不变的年份"))
    package_version = serializers.CharField()
    dry_run = serializers.BooleanField()


MAX_UPLOAD = 1_000_000


def _status(year: int) -> dict[str, Any]:
    status = workcalendar.year_status(year)
    return {**dataclasses.asdict(status), "provisional": status.provisional}


class CalendarView(APIView):
    @extend_schema(
        operation_id="events_calendar_retrieve",
        responses=CalendarSerializer,
        summary=gettext_lazy("工作日历：已导入的年份，今年与明年是否已导入"),
    )
    def get(self, request: Request) -> Response:
        years = reads.calendar_years(actor=request.user)
        today = timezone.localdate()
        body = {
            "years": [_status(row.year) for row in years],
            "current": _status(today.year),
            "next": _status(today.year + 1),
        }
        return Response(CalendarSerializer(body).data)


class CalendarYearView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="events_calendar_year_retrieve",
        responses=CalendarYearSerializer,
        summary=gettext_lazy("某年的放假与调休上班日"),
    )
    def get(self, request: Request, year: int) -> Response:
        days = reads.calendar_days(actor=request.user, year=year)
        body = {
            "status": _status(year),
            "holidays": [{"date": d.date, "name": d.name} for d in days if not d.is_workday],
            "make_up_days": [{"date": d.date, "name": d.name} for d in days if d.is_workday],
            "fallback": [
                {"date": day, "name": name} for day, name in sorted(workcalendar.fixed_holidays(year).items())
            ],
        }
        return Response(CalendarYearSerializer(body).data)

    @extend_schema(
        request=CalendarLoadInputSerializer,
        responses=CalendarLoadResultSerializer,
        summary=gettext_lazy("导入（替换）某年的节假日安排；有任何错误则不写入，并按行说明"),
    )
    def put(self, request: Request, year: int) -> Response:
        require(request.user, Capability.MANAGE_CALENDAR, action="calendar.load_year")
        payload = CalendarLoadInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        result = workcalendar.calendar_load_year(
            actor=request.user,
            year=year,
            rows=workcalendar.rows_from_mappings(data["days"]),
            note=data["note"],
            dry_run=data["dry_run"],
        )
        return Response(CalendarLoadResultSerializer(dataclasses.asdict(result)).data)


def _upload_text(upload: Any) -> str:
    if upload.size is not None and upload.size > MAX_UPLOAD:
        raise ValidationFailed(fields={"file": [_("文件过大（不超过 1 MB）")]})
    raw = upload.read()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return str(raw.decode(encoding))
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(fields={"file": [_("无法识别文件编码（请保存为 UTF-8）")]})


class CalendarImportView(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={
            "multipart/form-data": CalendarImportInputSerializer,
            "application/json": CalendarImportInputSerializer,
        },
        responses={201: CalendarLoadResultSerializer},
        summary=gettext_lazy("导入日历文件（CSV 或 JSON）；有任何错误则不写入，并按行说明"),
    )
    def post(self, request: Request) -> Response:
        require(request.user, Capability.MANAGE_CALENDAR, action="calendar.load_year")
        payload = CalendarImportInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        upload = data.get("file")
        text = _upload_text(upload) if upload is not None else data["text"]
        fmt = data["format"]
        if upload is not None and fmt is None:
            name = (upload.name or "").lower()
            fmt = "json" if name.endswith(".json") else "csv" if name.endswith(".csv") else None
        if not text.strip():
            raise ValidationFailed(fields={"file": [_("请选择日历文件（CSV 或 JSON），或在 text 中提供文件内容")]})
        result = workcalendar.calendar_load_text(
            actor=request.user, text=text, year=data["year"], fmt=fmt, note=data["note"], dry_run=data["dry_run"]
        )
        return Response(CalendarLoadResultSerializer(dataclasses.asdict(result)).data, status=201)


class CalendarSeedView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=CalendarSeedInputSerializer,
        responses=CalendarSeedResultSerializer,
        summary=gettext_lazy("从 chinese-calendar 软件包写入其覆盖的年份（管理员导入的年份不变）"),
    )
    def post(self, request: Request) -> Response:
        require(request.user, Capability.MANAGE_CALENDAR, action="calendar.seed")
        payload = CalendarSeedInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        result = workcalendar.calendar_seed_from_package(
            actor=request.user, refresh=payload.validated_data["refresh"], dry_run=payload.validated_data["dry_run"]
        )
        return Response(CalendarSeedResultSerializer(dataclasses.asdict(result)).data)
