from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.accounts import selectors as account_selectors
from civicgrid.orgunits import selectors, services
from civicgrid.orgunits.api.serializers import (
    DepartmentCreateSerializer,
    DepartmentSerializer,
    OrgUnitDetailSerializer,
    OrgUnitSerializer,
)

_FILTERS = [
    OpenApiParameter("level", str, description="district | town | community | grid"),
    OpenApiParameter("within", str, description=gettext_lazy("只返回该代码之下的单元")),
    OpenApiParameter("q", str, description=gettext_lazy("名称包含或代码前缀")),
]


@extend_schema(parameters=_FILTERS, summary=gettext_lazy("辖区内的组织单元"))
class OrgUnitListView(generics.ListAPIView):
    serializer_class = OrgUnitSerializer

    def get_queryset(self):
        params = self.request.query_params
        return account_selectors.orgunit_list(
            actor=self.request.user, level=params.get("level"), within=params.get("within"), q=params.get("q")
        )


class OrgUnitDetailView(APIView):
    @extend_schema(responses=OrgUnitDetailSerializer, summary=gettext_lazy("组织单元详情（含上级链）"))
    def get(self, request: Request, code: str) -> Response:
        unit = account_selectors.orgunit_get_visible(actor=request.user, code=code)
        unit.children_count = unit.children.count()  # type: ignore[attr-defined]
        context = {"ancestors": selectors.orgunit_ancestors(unit=unit)}
        return Response(OrgUnitDetailSerializer(unit, context=context).data)


@extend_schema(parameters=[_FILTERS[0]], summary=gettext_lazy("组织单元的整棵子树"))
class OrgUnitSubtreeView(generics.ListAPIView):
    serializer_class = OrgUnitSerializer

    def get_queryset(self):
        unit = account_selectors.orgunit_get_visible(actor=self.request.user, code=self.kwargs["code"])
        return selectors.orgunit_subtree(root=unit, level=self.request.query_params.get("level")).select_related(
            "parent"
        )


class DepartmentListView(APIView):
    @extend_schema(responses=DepartmentSerializer(many=True), summary=gettext_lazy("辖区相关的职能部门"))
    def get(self, request: Request) -> Response:
        departments = account_selectors.department_list(actor=request.user).prefetch_related("serves")
        return Response(DepartmentSerializer(departments, many=True).data)

    @extend_schema(
        request=DepartmentCreateSerializer, responses={201: DepartmentSerializer}, summary=gettext_lazy("新建职能部门")
    )
    def post(self, request: Request) -> Response:
        payload = DepartmentCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        org_unit = account_selectors.orgunit_get_visible(actor=request.user, code=data["org_unit"])
        serves = [account_selectors.orgunit_get_visible(actor=request.user, code=c) for c in data["serves"]]
        department = services.department_create(
            actor=request.user,
            code=data["code"],
            name=data["name"],
            kind=data["kind"],
            org_unit=org_unit,
            serves=serves,
            phone=data["phone"],
        )
        return Response(DepartmentSerializer(department).data, status=status.HTTP_201_CREATED)
