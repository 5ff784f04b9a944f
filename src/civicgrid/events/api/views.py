"""Grid-event API: the workbench tabs and lists, one case with its timeline and what the caller may do,
intake (grid worker's report, phone intake), transitions, extensions, the catalogue, the map and point
lookup. Every read is scoped by `events.selectors`, every write goes through `events.services`; errors
share the project's shape `{code, message, fields?}`."""

from __future__ import annotations

import math
from typing import Any, cast

from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.accounts.selectors import orgunit_get_visible
from civicgrid.core.errors import NotFound, ValidationFailed
from civicgrid.core.labels import choice_label
from civicgrid.events import selectors, services
from civicgrid.events.api.actions import case_transition_with_files
from civicgrid.events.models import Case, Channel
from civicgrid.events.workflow import OPEN_STATES, TRANSITIONS, Action, State

# --- output ------------------------------------------------------------------------------------------


# The values are listed in the description rather than as an enum: the names "state" and "channel" are
# taken by other apps' enums, and drf-spectacular would name ours by a hash.
@extend_schema_field(
    {
        "type": "string",
        "description": format_lazy("{}{}", " | ".join(State.values), gettext_lazy("（说明见 state_label）")),
    }
)
class StateField(serializers.CharField):
    """The case state."""


@extend_schema_field({"type": "string", "description": " | ".join(Channel.values)})
class ChannelField(serializers.CharField):
    """The intake channel."""


class EventCodeNameSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    name = serializers.CharField()


class CaseRowSerializer(serializers.ModelSerializer[Case]):
    """A list row: what a workbench shows, nothing that needs another query."""

    category = EventCodeNameSerializer(read_only=True)
    category_major = EventCodeNameSerializer(source="category.parent", read_only=True, allow_null=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    channel_label = serializers.CharField(source="get_channel_display", read_only=True)
    grid = EventCodeNameSerializer(read_only=True, allow_null=True)
    community = EventCodeNameSerializer(read_only=True, allow_null=True)
    department = EventCodeNameSerializer(read_only=True, allow_null=True)
    overdue = serializers.SerializerMethodField()
    state = StateField(read_only=True)
    channel = ChannelField(read_only=True)

    class Meta:
        model = Case
        fields = [
            "number",
            "title",
            "category",
            "category_major",
            "state",
            "state_label",
            "channel",
            "channel_label",
            "grid",
            "community",
            "department",
            "reported_at",
            "due_at",
            "due_provisional",
            "overdue",
            "supervised",
            "escalation_level",
            "extension_pending",
        ]

    def get_overdue(self, case: Case) -> bool:
        now = self.context.get("now") or timezone.now()
        return bool(case.state in OPEN_STATES and case.due_at and case.due_at < now)

    def to_representation(self, instance: Case) -> dict[str, Any]:
        """The row built directly: the same fields and values as the declared serializer (a test compares
        the two), without DRF's per-attribute machinery, which cost most of a list's time (30 rows × 18
        fields through `get_attribute` and `inspect.signature`)."""
        case = instance
        when = self.fields["reported_at"].to_representation
        category = case.category
        return {
            "number": case.number,
            "title": case.title,
            "category": _code_name(category),
            "category_major": _code_name(category.parent) if category.parent_id else None,
            "state": case.state,
            "state_label": choice_label(State, case.state),
            "channel": case.channel,
            "channel_label": choice_label(Channel, case.channel),
            "grid": _code_name(case.grid) if case.grid_id else None,
            "community": _code_name(case.community) if case.community_id else None,
            "department": _code_name(case.department) if case.department_id else None,
            "reported_at": when(case.reported_at),
            "due_at": when(case.due_at) if case.due_at else None,
            "due_provisional": case.due_provisional,
            "overdue": self.get_overdue(case),
            "supervised": case.supervised,
            "escalation_level": case.escalation_level,
            "extension_pending": case.extension_pending,
        }


def _code_name(item: Any) -> dict[str, str]:
    return {"code": str(item.code), "name": str(item.name)}


class CaseTimelineEntrySerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=["step", "flag"])
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a data field, not Field.label
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    note = serializers.CharField()
    state_label = serializers.CharField()
    department = serializers.CharField()
    took_hours = serializers.FloatField(allow_null=True, help_text=gettext_lazy("本环节用时（工作小时）"))
    limit_hours = serializers.FloatField(allow_null=True, help_text=gettext_lazy("本环节时限（工作小时）"))
    over_limit = serializers.BooleanField()
    automatic = serializers.BooleanField()
    hours = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)


class CaseCurrentStepSerializer(serializers.Serializer[Any]):
    label = serializers.CharField()  # type: ignore[assignment]  # a data field, not Field.label
    start = serializers.DateTimeField()
    limit_hours = serializers.FloatField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    provisional = serializers.BooleanField(help_text=gettext_lazy("时限跨越尚未导入节假日安排的年份，为暂定"))
    used_hours = serializers.FloatField()
    overdue = serializers.BooleanField()


class CaseActionSerializer(serializers.Serializer[Any]):
    action = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a data field, not Field.label
    needs_reason = serializers.BooleanField()
    needs_attachment = serializers.BooleanField()


class CaseDetailSerializer(CaseRowSerializer):
    town = EventCodeNameSerializer(read_only=True, allow_null=True)
    reporter = serializers.SerializerMethodField()
    handler = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    current_step = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()
    extension = serializers.SerializerMethodField()
    dispatch = serializers.SerializerMethodField()
    merged_into = serializers.SerializerMethodField(help_text=gettext_lazy("已合并时：主事件编号"))
    merged_duplicates = serializers.SerializerMethodField(help_text=gettext_lazy("合并到本事件的重复事件编号"))

    class Meta(CaseRowSerializer.Meta):
        fields = [
            *CaseRowSerializer.Meta.fields,
            "description",
            "address",
            "lon",
            "lat",
            "town",
            "reporter",
            "reporter_name",
            "reporter_phone_masked",
            "handler",
            "filed_at",
            "dispatched_at",
            "accepted_at",
            "handled_at",
            "closed_at",
            "handle_due_at",
            "extension_hours",
            "version",
            "timeline",
            "current_step",
            "actions",
            "extension",
            "dispatch",
            "merged_into",
            "merged_duplicates",
        ]

    def to_representation(self, instance: Case) -> dict[str, Any]:
        # One case: every declared field the ordinary way (the row's shortcut is for lists).
        return cast(dict[str, Any], serializers.ModelSerializer.to_representation(self, instance))

    def _actions(self, case: Case) -> selectors.CaseActions:
        cache = self.context.setdefault("_actions", {})
        if case.pk not in cache:
            cache[case.pk] = selectors.case_actions(actor=self.context["request"].user, case=case)
        return cache[case.pk]

    def get_reporter(self, case: Case) -> str | None:
        return case.reporter.display_name if case.reporter else None

    def get_handler(self, case: Case) -> str | None:
        return case.handler.display_name if case.handler else None

    def get_merged_into(self, case: Case) -> str | None:
        return case.duplicate_of.number if case.duplicate_of else None

    def get_merged_duplicates(self, case: Case) -> list[str]:
        return list(case.duplicates.order_by("reported_at", "id").values_list("number", flat=True))

    @extend_schema_field(CaseTimelineEntrySerializer(many=True))
    def get_timeline(self, case: Case) -> list[dict[str, Any]]:
        return [{**entry.__dict__, "over_limit": entry.over_limit} for entry in selectors.case_timeline(case=case)]

    @extend_schema_field(CaseCurrentStepSerializer(allow_null=True))
    def get_current_step(self, case: Case) -> dict[str, Any] | None:
        current = selectors.case_current_step(case=case)
        return current.__dict__ if current else None

    @extend_schema_field(CaseActionSerializer(many=True))
    def get_actions(self, case: Case) -> list[dict[str, Any]]:
        return [
            {
                "action": t.action,
                "label": str(Action(t.action).label),
                "needs_reason": t.needs_reason,
                "needs_attachment": t.needs_attachment,
            }
            for t in self._actions(case).transitions
        ]

    def get_extension(self, case: Case) -> dict[str, Any]:
        actions = self._actions(case)
        flag = selectors.extension_request_pending(case=case)
        return {
            "can_request": actions.extension_request,
            "can_decide": actions.extension_decide,
            "pending": (
                {
                    "hours": str(flag.hours) if flag.hours is not None else None,
                    "reason": flag.note,
                    "at": flag.at.isoformat(),
                    "by": flag.actor.display_name if flag.actor else None,
                }
                if flag
                else None
            ),
        }

    def get_dispatch(self, case: Case) -> dict[str, Any] | None:
        if not any(t.action == Action.DISPATCH for t in self._actions(case).transitions):
            return None
        proposal = selectors.dispatch_proposal_for(case=case)
        return {
            "suggested": proposal.department.code if proposal.department else None,
            "basis": proposal.basis or None,
            "departments": [{"code": d.code, "name": d.name} for d in selectors.dispatch_departments(case=case)],
        }


class CaseExtensionInfoSerializer(serializers.Serializer[Any]):
    can_request = serializers.BooleanField()
    can_decide = serializers.BooleanField()
    pending = inline_serializer(
        "CaseExtensionPending",
        {
            "hours": serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True),
            "reason": serializers.CharField(),
            "at": serializers.DateTimeField(),
            "by": serializers.CharField(allow_null=True),
        },
        allow_null=True,
    )


class CaseDispatchInfoSerializer(serializers.Serializer[Any]):
    suggested = serializers.CharField(
        allow_null=True, help_text=gettext_lazy("建议派遣的部门代码（派遣规则，否则该分类默认类型的就近部门）")
    )
    basis = serializers.ChoiceField(
        choices=["rule", "category_kind"], allow_null=True, help_text=gettext_lazy("建议的依据：派遣规则或分类默认部门")
    )
    departments = EventCodeNameSerializer(many=True, help_text=gettext_lazy("服务该事件所在区域的部门"))


CaseDetailSerializer.get_extension = extend_schema_field(CaseExtensionInfoSerializer)(  # type: ignore[method-assign]
    CaseDetailSerializer.get_extension
)
CaseDetailSerializer.get_dispatch = extend_schema_field(CaseDispatchInfoSerializer(allow_null=True))(  # type: ignore[method-assign]
    CaseDetailSerializer.get_dispatch
)


class WorkbenchTabSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a data field, not Field.label
    count = serializers.IntegerField(help_text=gettext_lazy("最多计到 999"))
    capped = serializers.BooleanField(help_text=gettext_lazy("实际数量超过 count"))


class CasePageSerializer(serializers.Serializer[Any]):
    tab = serializers.CharField()
    count = serializers.IntegerField(help_text=gettext_lazy("符合条件的事件数，最多计到 999"))
    count_capped = serializers.BooleanField()
    next_cursor = serializers.CharField(allow_null=True, help_text=gettext_lazy("下一页：作为 after 参数传回"))
    next = serializers.CharField(allow_null=True)
    results = CaseRowSerializer(many=True)


# --- input -------------------------------------------------------------------------------------------


class CaseReportInputSerializer(serializers.Serializer[Any]):
    category = serializers.CharField(help_text=gettext_lazy("事件小类代码"))
    title = serializers.CharField(max_length=100)
    description = serializers.CharField()
    channel = serializers.ChoiceField(
        choices=[Channel.GRID_WORKER, Channel.PHONE],
        required=False,
        help_text=gettext_lazy("省略时：网格员为 grid_worker，事件中心为 phone"),
    )
    lon = serializers.FloatField(required=False, allow_null=True, default=None)
    lat = serializers.FloatField(required=False, allow_null=True, default=None)
    crs = serializers.ChoiceField(choices=["wgs84", "gcj02"], default="wgs84")
    address = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    community = serializers.CharField(
        required=False, allow_blank=True, default="", help_text=gettext_lazy("无坐标时必填：所在社区代码")
    )
    reporter_name = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    reporter_phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in ("lon", "lat"):
            if attrs.get(name) is not None and not math.isfinite(attrs[name]):
                raise serializers.ValidationError({name: _("必须是有限数字")})
        return attrs


class CaseTransitionInputSerializer(serializers.Serializer[Any]):
    action = serializers.ChoiceField(choices=[(a, Action(a).label) for a in TRANSITIONS])
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    department = serializers.CharField(
        required=False, allow_blank=True, default="", help_text=gettext_lazy("派遣时：部门代码（省略则按派遣规则）")
    )
    expected_version = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text=gettext_lazy("读取时的 version；已变化则 409")
    )
    attachment_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        default=list,
        help_text=gettext_lazy(
            "处置反馈、自行处置时：先经 /events/cases/{number}/attachments/ 以同一环节（stage）上传的附件 id；"
            "自行处置至少需要一个附件（字段 attachments 报错）"
        ),
    )


class CaseTransitionUploadSerializer(CaseTransitionInputSerializer):
    """The same move as multipart/form-data, with the files in the same request."""

    files = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        help_text=gettext_lazy("处置反馈、自行处置时随同上传的照片或文件（JPEG、PNG、WebP、PDF，最多 9 个）"),
    )


class CaseExtensionRequestSerializer(serializers.Serializer[Any]):
    hours = serializers.DecimalField(max_digits=7, decimal_places=2, help_text=gettext_lazy("延期工作小时数"))
    reason = serializers.CharField()


class CaseExtensionDecisionSerializer(serializers.Serializer[Any]):
    approve = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, default="")


# --- views -------------------------------------------------------------------------------------------

LIST_PARAMS = [
    OpenApiParameter(
        "tab", str, description=gettext_lazy("工作台列表；省略为该角色的第一个列表（见 /events/workbench/）")
    ),
    OpenApiParameter("state", str, description=gettext_lazy("状态，或 open 表示全部在办")),
    OpenApiParameter("category", str, description=gettext_lazy("分类代码（大类含其全部小类）")),
    OpenApiParameter("unit", str, description=gettext_lazy("辖区内的组织单元代码")),
    OpenApiParameter("overdue", bool, description=gettext_lazy("仅看超期")),
    OpenApiParameter("q", str, description=gettext_lazy("事件编号（或其开头）或标题关键词")),
    OpenApiParameter("after", str, description=gettext_lazy("翻页游标（上一页的 next_cursor）")),
    OpenApiParameter("page_size", int, description=gettext_lazy("每页条数（1–200，默认 30）")),
]


def _filters(request: Request) -> selectors.CaseFilters:
    query = request.query_params
    return selectors.CaseFilters(
        state=query.get("state", "").strip(),
        category=query.get("category", "").strip(),
        unit=query.get("unit", "").strip(),
        overdue=query.get("overdue", "").lower() in ("1", "true", "yes"),
        q=query.get("q", "").strip()[:60],
    )


def detail_response(request: Request, case: Case, status: int = 200) -> Response:
    case = selectors.case_get(actor=request.user, number=case.number)
    return Response(CaseDetailSerializer(case, context={"request": request}).data, status=status)


class WorkbenchView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Workbench", {"role": serializers.CharField(), "tabs": WorkbenchTabSerializer(many=True)}
        ),
        summary=gettext_lazy("工作台：本角色的列表及数量"),
    )
    def get(self, request: Request) -> Response:
        tabs = selectors.workbench_tabs(actor=request.user)
        counts = selectors.workbench_counts(actor=request.user)
        return Response(
            {
                "role": cast(User, request.user).role,
                "tabs": [
                    {
                        "key": tab.key,
                        "label": str(tab.label),
                        "count": counts[tab.key].value,
                        "capped": counts[tab.key].capped,
                    }
                    for tab in tabs
                ],
            }
        )


class CaseListView(APIView):
    @extend_schema(
        operation_id="events_cases_list",
        parameters=LIST_PARAMS,
        responses=CasePageSerializer,
        summary=gettext_lazy("工作台列表（按游标翻页）"),
    )
    def get(self, request: Request) -> Response:
        try:
            size = int(request.query_params.get("page_size") or selectors.PAGE_SIZE)
        except ValueError:
            raise ValidationFailed(fields={"page_size": [_("page_size 必须是整数")]}) from None
        now = timezone.now()
        page = selectors.workbench_page(
            actor=request.user,
            tab=request.query_params.get("tab") or None,
            filters=_filters(request),
            after=request.query_params.get("after") or None,
            size=size,
            now=now,
        )
        next_url = None
        if page.next_cursor:
            query = request.query_params.copy()
            query["after"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response(
            {
                "tab": page.tab.key,
                "count": page.count.value,
                "count_capped": page.count.capped,
                "next_cursor": page.next_cursor,
                "next": next_url,
                "results": CaseRowSerializer(page.rows, many=True, context={"now": now}).data,
            }
        )

    @extend_schema(
        request=CaseReportInputSerializer,
        responses={201: CaseDetailSerializer},
        summary=gettext_lazy("上报事件（网格员）或电话受理（事件中心）"),
    )
    def post(self, request: Request) -> Response:
        payload = CaseReportInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        user = cast(User, request.user)
        channel = data.get("channel") or (Channel.PHONE if user.role == Role.DISPATCHER else Channel.GRID_WORKER)
        if channel == Channel.PHONE and user.role != Role.DISPATCHER:
            raise ValidationFailed(fields={"channel": [_("只有事件中心可以受理电话")]})
        category = selectors.category_get(code=data["category"])
        community = orgunit_get_visible(actor=user, code=data["community"]) if data["community"] else None
        case = services.case_report(
            actor=user,
            report=services.Report(
                title=data["title"],
                description=data["description"],
                category=category,
                channel=channel,
                lon=data["lon"],
                lat=data["lat"],
                crs=data["crs"],
                address=data["address"],
                reporter_name=data["reporter_name"],
                reporter_phone=data["reporter_phone"],
            ),
            community=community,
        )
        return detail_response(request, case, status=201)


class CaseDetailView(APIView):
    @extend_schema(
        operation_id="events_cases_retrieve",
        responses=CaseDetailSerializer,
        summary=gettext_lazy("事件详情：办理过程、当前环节、可执行操作"),
    )
    def get(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        return Response(CaseDetailSerializer(case, context={"request": request}).data)


class CaseTransitionView(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request={
            "application/json": CaseTransitionInputSerializer,
            "multipart/form-data": CaseTransitionUploadSerializer,
        },
        responses=CaseDetailSerializer,
        summary=gettext_lazy("办理：立案、派遣、签收、退回、处置反馈、核查结案、返工、撤销……"),
        description=gettext_lazy(
            "处置反馈和自行处置可附带照片：以 multipart/form-data 在 files 中随同上传（与办理一并成功或失败），"
            "或在 attachment_ids 中引用先前上传的附件。"
        ),
    )
    def post(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        payload = CaseTransitionUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        department = None
        if data["department"]:
            department = next(
                (d for d in selectors.dispatch_departments(case=case) if d.code == data["department"]), None
            )
            if department is None:
                raise ValidationFailed(fields={"department": [_("该部门不服务该事件所在区域")]})
        done = case_transition_with_files(
            actor=request.user,
            case=case,
            action=data["action"],
            reason=data["reason"],
            department=department,
            expected_version=data["expected_version"],
            files=data["files"],
            attachment_ids=data["attachment_ids"],
        )
        try:
            return detail_response(request, done)
        except NotFound:  # the caller no longer sees the case (a department that returned it)
            return Response({"number": done.number, "state": done.state, "state_label": State(done.state).label})


class CaseExtensionView(APIView):
    @extend_schema(
        request=CaseExtensionRequestSerializer,
        responses={201: CaseDetailSerializer},
        summary=gettext_lazy("申请延期（处置部门）"),
    )
    def post(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        payload = CaseExtensionRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.extension_request(
            actor=request.user,
            case=case,
            hours=payload.validated_data["hours"],
            reason=payload.validated_data["reason"],
        )
        return detail_response(request, case, status=201)


class CaseExtensionDecisionView(APIView):
    @extend_schema(
        request=CaseExtensionDecisionSerializer,
        responses=CaseDetailSerializer,
        summary=gettext_lazy("审批延期（事件中心或督办人员）"),
    )
    def post(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        payload = CaseExtensionDecisionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.extension_decide(
            actor=request.user,
            case=case,
            approve=payload.validated_data["approve"],
            note=payload.validated_data["note"],
        )
        return detail_response(request, case)


class CategoryListView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "CategoryMajor",
            {
                "code": serializers.CharField(),
                "name": serializers.CharField(),
                "children": inline_serializer(
                    "CategoryMinor",
                    {
                        "code": serializers.CharField(),
                        "name": serializers.CharField(),
                        "self_fixable": serializers.BooleanField(),
                    },
                    many=True,
                ),
            },
            many=True,
        ),
        summary=gettext_lazy("事件分类（大类、小类）"),
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {
                    "code": major.code,
                    "name": major.name,
                    "children": [{"code": c.code, "name": c.name, "self_fixable": c.self_fixable} for c in minors],
                }
                for major, minors in selectors.category_tree()
            ]
        )


def _float_param(request: Request, name: str) -> float:
    try:
        value = float(request.query_params[name])
    except (KeyError, ValueError):
        raise ValidationFailed(fields={name: [_("%(name)s 必须是数字") % {"name": name}]}) from None
    if not math.isfinite(value):
        raise ValidationFailed(fields={name: [_("%(name)s 必须是有限数字") % {"name": name}]})
    return value


class LocateView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("lon", float, required=True),
            OpenApiParameter("lat", float, required=True),
            OpenApiParameter("crs", str, enum=["wgs84", "gcj02"], default="wgs84"),
        ],
        responses=inline_serializer(
            "EventLocate",
            {
                "lon": serializers.FloatField(help_text="WGS-84"),
                "lat": serializers.FloatField(help_text="WGS-84"),
                "outside": serializers.BooleanField(),
                "in_area": serializers.BooleanField(),
                "grid": serializers.CharField(allow_null=True),
                "grid_name": serializers.CharField(),
                "community": serializers.CharField(allow_null=True),
                "community_name": serializers.CharField(),
                "town": serializers.CharField(allow_null=True),
                "town_name": serializers.CharField(),
            },
        ),
        summary=gettext_lazy("上报前查询位置：所在网格、是否在本人辖区"),
    )
    def get(self, request: Request) -> Response:
        located = selectors.locate_point(
            actor=request.user,
            lon=_float_param(request, "lon"),
            lat=_float_param(request, "lat"),
            crs=request.query_params.get("crs") or "wgs84",
        )
        return Response(located.__dict__)


class CaseMapView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("show", str, enum=list(selectors.MAP_TABS), default="open"),
            OpenApiParameter("crs", str, enum=["wgs84", "gcj02"], default="wgs84"),
        ],
        responses=OpenApiTypes.OBJECT,
        summary=gettext_lazy("辖区在办事件（GeoJSON 点，最紧急的在前，最多 2000 个）"),
    )
    def get(self, request: Request) -> Response:
        crs = request.query_params.get("crs") or "wgs84"
        if crs not in ("wgs84", "gcj02"):
            raise ValidationFailed(fields={"crs": [_("坐标系应为 wgs84 或 gcj02")]})
        body = selectors.case_map_geojson(actor=request.user, show=request.query_params.get("show") or "open", crs=crs)
        for feature in body["features"]:
            feature["properties"]["url"] = reverse("events:case", kwargs={"number": feature["properties"]["number"]})
        return Response(body)
