from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.accounts.permissions import require
from civicgrid.accounts.roles import Capability
from civicgrid.audit.models import AuditEntry
from civicgrid.audit.selectors import audit_entry_list, audit_verify


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    class Meta:
        model = AuditEntry
        fields = [
            "seq",
            "at",
            "actor_username",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "source",
            "channel",
            "result",
            "detail",
            "hash",
        ]


@extend_schema(
    parameters=[OpenApiParameter(p, str) for p in ("action", "actor", "result", "object_type")],
    summary=gettext_lazy("审计日志（审计员、区级管理员）"),
)
class AuditEntryListView(generics.ListAPIView):
    serializer_class = AuditEntrySerializer

    def get_queryset(self):
        return audit_entry_list(actor=self.request.user, filters=self.request.query_params.dict())


class AuditVerifyView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "AuditVerifyReport",
            {
                "ok": serializers.BooleanField(),
                "checked": serializers.IntegerField(),
                "problems": serializers.ListField(child=serializers.CharField()),
            },
        ),
        summary=gettext_lazy("校验审计日志哈希链"),
    )
    def get(self, request: Request) -> Response:
        require(request.user, Capability.VERIFY_AUDIT, action="audit.verify")
        report = audit_verify()
        return Response({"ok": report.ok, "checked": report.checked, "problems": [str(p) for p in report.problems]})
