"""After the loop and beside it, through the API (the services are `events.feedback`'s):

- the reporter's evaluation of a closed case: the signed-in reporter under the case, a citizen through the
  tracking token (no account; only what the tracking page shows leaves, never staff names or notes);
- the supervisor's decision on a request to reopen;
- duplicate suggestions for the event centre and merging a duplicate into its main case."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from civicgrid.core.errors import Conflict, NotFound, ValidationFailed
from civicgrid.events import feedback, public, selectors
from civicgrid.events.api import reads
from civicgrid.events.api.views import CaseDetailSerializer, CaseRowSerializer, StateField, detail_response
from civicgrid.events.models import Case, Evaluation
from civicgrid.events.workflow import State

# --- evaluation ---------------------------------------------------------------------------------------


class EvaluationInputSerializer(serializers.Serializer[Any]):
    rating = serializers.IntegerField(help_text=gettext_lazy("满意度 1–5 星"))
    comment = serializers.CharField(required=False, allow_blank=True, default="", help_text=gettext_lazy("最多 300 字"))
    reopen_requested = serializers.BooleanField(
        required=False,
        default=False,
        help_text=gettext_lazy("2 星及以下、结案后规定天数内，可申请重新办理（由督办人员审批）"),
    )


class EvaluationSerializer(serializers.ModelSerializer[Evaluation]):
    by = serializers.SerializerMethodField(help_text=gettext_lazy("reporter 上报人（登录）| token 查询链接持有人"))

    class Meta:
        model = Evaluation
        fields = ["rating", "comment", "at", "reopen_requested", "by"]

    def get_by(self, evaluation: Evaluation) -> str:
        return "reporter" if evaluation.by_user_id else "token"


@extend_schema_field({"type": "string", "description": gettext_lazy("'' | pending | approved | denied（空为未申请）")})
class ReopenStateField(serializers.CharField):
    """What became of the latest request to reopen (described, not an enum: "state" names other enums)."""


class ReopenStatusSerializer(serializers.Serializer[Any]):
    state = ReopenStateField()
    requested_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField(help_text=gettext_lazy("申请说明"))


class CaseEvaluationSerializer(serializers.Serializer[Any]):
    evaluation = EvaluationSerializer(allow_null=True)
    can_evaluate = serializers.BooleanField(help_text=gettext_lazy("当前用户现在可以评价"))
    reopen_allowed = serializers.BooleanField(help_text=gettext_lazy("仍在结案后可申请重新办理的期限内"))
    reopen_window_days = serializers.IntegerField()
    reopen = ReopenStatusSerializer()
    can_decide = serializers.BooleanField(help_text=gettext_lazy("当前用户可审批待定的重新办理申请"))


class TrackedEvaluationSerializer(serializers.Serializer[Any]):
    """What the token holder may read: no staff names, no notes."""

    number = serializers.CharField()
    state = StateField()
    state_label = serializers.CharField()
    evaluation = EvaluationSerializer(allow_null=True)
    can_evaluate = serializers.BooleanField()
    reopen_allowed = serializers.BooleanField()
    reopen_window_days = serializers.IntegerField()
    reopen_state = ReopenStateField()


def _evaluation_body(case: Case, *, can_evaluate: bool) -> dict[str, Any]:
    evaluation = reads.case_evaluation(case=case)
    return {
        "evaluation": evaluation,
        "can_evaluate": can_evaluate and case.state == State.CLOSED and evaluation is None,
        "reopen_allowed": feedback.reopen_allowed(case),
        "reopen_window_days": feedback.reopen_window_days(),
    }


def _submit(request: Request, case: Case, *, by_user: Any, token: str = "") -> None:
    payload = EvaluationInputSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    feedback.evaluation_submit(
        case=case,
        rating=payload.validated_data["rating"],
        comment=payload.validated_data["comment"],
        by_user=by_user,
        reopen_requested=payload.validated_data["reopen_requested"],
        token=token,
    )


class CaseEvaluationView(APIView):
    def _body(self, request: Request, case: Case) -> dict[str, Any]:
        status = feedback.reopen_status(case)
        return {
            **_evaluation_body(case, can_evaluate=request.user.pk == case.reporter_id),
            "reopen": {
                "state": status.state,
                "requested_at": status.request.at if status.request else None,
                "note": status.request.note if status.request else "",
            },
            "can_decide": reads.reopen_decidable(actor=request.user, case=case, status=status.state),
        }

    @extend_schema(
        operation_id="events_cases_evaluation_retrieve",
        responses=CaseEvaluationSerializer,
        summary=gettext_lazy("事件的评价与重新办理申请"),
    )
    def get(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        return Response(CaseEvaluationSerializer(self._body(request, case)).data)

    @extend_schema(
        request=EvaluationInputSerializer,
        responses={201: CaseEvaluationSerializer},
        summary=gettext_lazy("上报人评价已结案事件（一次）；不满意可申请重新办理"),
    )
    def post(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        _submit(request, case, by_user=request.user)
        case = selectors.case_get(actor=request.user, number=number)
        return Response(CaseEvaluationSerializer(self._body(request, case)).data, status=201)


class TrackedEvaluationView(APIView):
    """The citizen's side: the case is the one the tracking token names; no account is needed."""

    permission_classes = [AllowAny]
    throttle_classes = [AnonRateThrottle]

    def _case(self, token: str) -> Case:
        return public.case_get_by_token(token)

    def _body(self, case: Case) -> dict[str, Any]:
        return {
            "number": case.number,
            "state": case.state,
            "state_label": str(State(case.state).label),
            **_evaluation_body(case, can_evaluate=True),
            "reopen_state": feedback.reopen_status(case).state,
        }

    @extend_schema(
        operation_id="events_track_evaluation_retrieve",
        auth=[],
        responses=TrackedEvaluationSerializer,
        summary=gettext_lazy("凭查询链接：事件状态与评价（无需登录）"),
    )
    def get(self, request: Request, token: str) -> Response:
        return Response(TrackedEvaluationSerializer(self._body(self._case(token))).data)

    @extend_schema(
        auth=[],
        request=EvaluationInputSerializer,
        responses={201: TrackedEvaluationSerializer},
        summary=gettext_lazy("凭查询链接评价已结案事件（无需登录，一次）"),
    )
    def post(self, request: Request, token: str) -> Response:
        case = self._case(token)
        user = request.user
        by_user = user if user.is_authenticated and user.pk == case.reporter_id else AnonymousUser()
        _submit(request, case, by_user=by_user, token=token)
        return Response(TrackedEvaluationSerializer(self._body(self._case(token))).data, status=201)


# --- the supervisor's decision on reopening -------------------------------------------------------------


class ReopenDecisionSerializer(serializers.Serializer[Any]):
    approve = serializers.BooleanField(help_text=gettext_lazy("true 同意重新办理（退回原处置部门）；false 驳回"))
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text=gettext_lazy("审批意见"))


class ReopenDecisionView(APIView):
    @extend_schema(
        request=ReopenDecisionSerializer,
        responses=CaseDetailSerializer,
        summary=gettext_lazy("审批重新办理申请（本辖区督办人员）"),
    )
    def post(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        payload = ReopenDecisionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        decided = feedback.reopen_decide(
            actor=request.user,
            case=case,
            approve=payload.validated_data["approve"],
            reason=payload.validated_data["reason"],
        )
        return detail_response(request, decided)


# --- duplicates and merging ---------------------------------------------------------------------------


class DuplicateSerializer(serializers.Serializer[Any]):
    distance_m = serializers.FloatField(
        allow_null=True, help_text=gettext_lazy("相距米数；双方都无坐标（同社区）时为空")
    )
    case = CaseRowSerializer()


class DuplicateListSerializer(serializers.Serializer[Any]):
    radius_m = serializers.FloatField()
    days = serializers.IntegerField()
    results = DuplicateSerializer(many=True)


def _number_param(request: Request, name: str, low: float, high: float, *, integer: bool) -> float | None:
    text = request.query_params.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ValidationFailed(
            fields={
                name: [_("%(name)s 应为 %(low)s 到 %(high)s 之间的数字") % {"name": name, "low": low, "high": high}]
            }
        )
    return value


class CaseDuplicateListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("radius_m", float, description=gettext_lazy("半径（米，1–5000；默认按系统设置）")),
            OpenApiParameter("days", int, description=gettext_lazy("上报时间相差天数（1–365；默认按系统设置）")),
        ],
        responses=DuplicateListSerializer,
        summary=gettext_lazy("疑似重复事件：附近同类在办事件（事件中心）"),
    )
    def get(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        reads.require_merge_allowed(actor=request.user, case=case)
        radius = _number_param(request, "radius_m", 1, 5000, integer=False)
        days = _number_param(request, "days", 1, 365, integer=True)
        radius = feedback.duplicate_radius_m() if radius is None else radius
        days = feedback.duplicate_days() if days is None else days
        found = feedback.duplicate_candidates(
            case, radius_m=radius, days=int(days), scope=selectors.case_scope(actor=request.user)
        )
        body = {
            "radius_m": radius,
            "days": int(days),
            "results": [{"distance_m": c.distance_m, "case": c.case} for c in found],
        }
        return Response(DuplicateListSerializer(body).data)


class CaseMergeSerializer(serializers.Serializer[Any]):
    main = serializers.CharField(help_text=gettext_lazy("主事件编号"))
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text=gettext_lazy("合并原因"))
    expected_version = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text=gettext_lazy("读取时的 version；已变化则 409")
    )


class CaseMergeView(APIView):
    @extend_schema(
        request=CaseMergeSerializer,
        responses=CaseDetailSerializer,
        summary=gettext_lazy("将本事件作为重复事件合并到主事件（事件中心）"),
    )
    def post(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        payload = CaseMergeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if data["expected_version"] is not None and data["expected_version"] != case.version:
            raise Conflict(_("该事件已被他人处理，请刷新后查看最新状态"))
        try:
            main = selectors.case_get(actor=request.user, number=data["main"].strip())
        except NotFound:
            missing = _("找不到事件 %(number)s，或不在您的辖区内") % {"number": data["main"]}
            raise ValidationFailed(fields={"main": [missing]}) from None
        merged = feedback.case_merge(actor=request.user, duplicate=case, main=main, reason=data["reason"])
        return detail_response(request, merged)
