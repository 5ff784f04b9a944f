from __future__ import annotations

from typing import Any, cast

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.accounts import selectors, services
from civicgrid.accounts.api.serializers import (
    TokenRequestSerializer,
    TokenResponseSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from civicgrid.accounts.models import User
from civicgrid.core import context
from civicgrid.core.errors import NotFound
from civicgrid.orgunits.models import Department


def _department(actor: Any, code: str | None) -> Department | None:
    if not code:
        return None
    department = selectors.department_list(actor=actor).filter(code=code).first()
    if department is None:
        raise NotFound(_("部门 %(code)s 不存在或不在您的辖区内") % {"code": code})
    return department


class TokenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        request=TokenRequestSerializer,
        responses=TokenResponseSerializer,
        summary=gettext_lazy("用用户名和密码换取 API 令牌"),
    )
    def post(self, request: Request) -> Response:
        payload = TokenRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.login_attempt(
            username=payload.validated_data["username"],
            password=payload.validated_data["password"],
            source=context.current().source,
        )
        return Response({"token": services.token_issue(user=user)})


class MeView(APIView):
    @extend_schema(responses=UserSerializer, summary=gettext_lazy("当前账号"))
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(cast(User, request.user)).data)


@extend_schema(parameters=[OpenApiParameter("role", str), OpenApiParameter("q", str)])
class UserListView(generics.ListAPIView):
    serializer_class = UserSerializer

    def get_queryset(self):
        params = self.request.query_params
        return selectors.user_list(actor=self.request.user, role=params.get("role"), q=params.get("q"))

    @extend_schema(request=UserCreateSerializer, responses={201: UserSerializer}, summary=gettext_lazy("新建账号"))
    def post(self, request: Request) -> Response:
        payload = UserCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        user = services.user_create(
            actor=request.user,
            username=data["username"],
            password=data["password"],
            role=data["role"],
            org_unit=selectors.orgunit_get_visible(actor=request.user, code=data["org_unit"]),
            department=_department(request.user, data.get("department")),
            full_name=data["full_name"],
            phone=data["phone"],
        )
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetailView(APIView):
    @extend_schema(responses=UserSerializer, summary=gettext_lazy("账号详情"))
    def get(self, request: Request, user_id: int) -> Response:
        return Response(UserSerializer(selectors.user_get_visible(actor=request.user, user_id=user_id)).data)

    @extend_schema(
        request=UserUpdateSerializer, responses=UserSerializer, summary=gettext_lazy("修改账号角色、辖区或状态")
    )
    def patch(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get_visible(actor=request.user, user_id=user_id)
        payload = UserUpdateSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        org_unit = data.get("org_unit")
        user = services.user_update(
            actor=request.user,
            user=user,
            role=data.get("role"),
            org_unit=selectors.orgunit_get_visible(actor=request.user, code=org_unit) if org_unit else None,
            department=_department(request.user, data.get("department")),
            full_name=data.get("full_name"),
            is_active=data.get("is_active"),
        )
        return Response(UserSerializer(user).data)


class UserUnlockView(APIView):
    @extend_schema(request=None, responses=UserSerializer, summary=gettext_lazy("解锁账号"))
    def post(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get_visible(actor=request.user, user_id=user_id)
        return Response(UserSerializer(services.user_unlock(actor=request.user, user=user)).data)
