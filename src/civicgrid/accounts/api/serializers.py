from django.utils.translation import gettext_lazy
from rest_framework import serializers

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role


class UserSerializer(serializers.ModelSerializer[User]):
    role_display = serializers.CharField(source="get_role_display", read_only=True)
    org_unit = serializers.CharField(source="org_unit.code", read_only=True, allow_null=True)
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True, allow_null=True)
    department = serializers.CharField(source="department.code", read_only=True, allow_null=True)
    locked = serializers.BooleanField(source="is_locked", read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "full_name",
            "role",
            "role_display",
            "org_unit",
            "org_unit_name",
            "department",
            "is_active",
            "locked",
            "last_login",
        ]


class UserCreateSerializer(serializers.Serializer[User]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    full_name = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices)
    org_unit = serializers.CharField(max_length=32, help_text=gettext_lazy("绑定的组织单元代码"))
    department = serializers.CharField(max_length=32, required=False, allow_null=True, default=None)


class UserUpdateSerializer(serializers.Serializer[User]):
    full_name = serializers.CharField(max_length=60, required=False)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    org_unit = serializers.CharField(max_length=32, required=False)
    department = serializers.CharField(max_length=32, required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)


class TokenRequestSerializer(serializers.Serializer[None]):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer[None]):
    token = serializers.CharField()
