from django.utils.translation import gettext_lazy
from rest_framework import serializers

from civicgrid.orgunits.models import Department, OrgUnit


class OrgUnitSerializer(serializers.ModelSerializer[OrgUnit]):
    level_display = serializers.CharField(source="get_level_display", read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = OrgUnit
        fields = [
            "code",
            "name",
            "level",
            "level_display",
            "kind",
            "kind_display",
            "parent_code",
            "depth",
            "active",
        ]


class OrgUnitDetailSerializer(OrgUnitSerializer):
    ancestors = serializers.SerializerMethodField()
    children_count = serializers.IntegerField(read_only=True)

    class Meta(OrgUnitSerializer.Meta):
        fields = [*OrgUnitSerializer.Meta.fields, "ancestors", "children_count"]

    def get_ancestors(self, unit: OrgUnit) -> list[dict[str, str]]:
        return [{"code": a.code, "name": a.name, "level": a.level} for a in self.context["ancestors"]]


class DepartmentSerializer(serializers.ModelSerializer[Department]):
    org_unit = serializers.CharField(source="org_unit.code", read_only=True)
    serves = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")  # type: ignore[var-annotated]
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = Department
        fields = ["code", "name", "kind", "kind_display", "org_unit", "serves", "phone", "active"]


class DepartmentCreateSerializer(serializers.Serializer[Department]):
    code = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Department.Kind.choices)
    org_unit = serializers.CharField(max_length=32, help_text=gettext_lazy("所属组织单元代码"))
    serves = serializers.ListField(child=serializers.CharField(max_length=32), allow_empty=False)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
