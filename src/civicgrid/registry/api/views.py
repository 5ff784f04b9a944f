"""Register API: search, houses, persons, residence lifecycle, reveal, rentals, exports. Area-scoped; one error
shape; personal information masked except through the audited reveal and unmasked export."""

from __future__ import annotations

from typing import Any

from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.accounts.selectors import orgunit_get_visible
from civicgrid.core import pii
from civicgrid.core.api import Pagination
from civicgrid.core.idnumbers import DocumentType
from civicgrid.registry import exports, rentals, selectors, services
from civicgrid.registry.models import House, HouseUse, Landlord, Person, Rental, ResidenceAction, ResidenceRecord


class PersonSerializer(serializers.ModelSerializer[Person]):
    """Masked: the full identity number and phone are only returned by the audited reveal endpoint."""

    id_type_display = serializers.CharField(source="get_id_type_display", read_only=True)

    class Meta:
        model = Person
        fields = [
            "id",
            "id_type",
            "id_type_display",
            "id_masked",
            "name",
            "sex",
            "birth_date",
            "phone_masked",
            "hukou_place",
            "hukou_region",
            "is_migrant",
            "employer",
            "permit_status",
        ]


class HouseSerializer(serializers.ModelSerializer[House]):
    address = serializers.SerializerMethodField()
    community = serializers.CharField(source="building.community.code", read_only=True)
    community_name = serializers.CharField(source="building.community.name", read_only=True)
    grid = serializers.CharField(source="building.grid.code", read_only=True, allow_null=True, default=None)
    residents = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = House
        fields = [
            "id",
            "address",
            "room",
            "use",
            "rooms",
            "floor_area",
            "community",
            "community_name",
            "grid",
            "residents",
        ]

    def get_address(self, house: House) -> str:
        return f"{house.building.community.name}{house.building}{house.room}"


class ActionSerializer(serializers.ModelSerializer[ResidenceAction]):
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ResidenceAction
        fields = ["kind", "on", "at", "actor", "data", "source"]


class ResidenceSerializer(serializers.ModelSerializer[ResidenceRecord]):
    person = PersonSerializer(read_only=True)
    house_id = serializers.IntegerField(read_only=True)
    actions = ActionSerializer(many=True, read_only=True)

    class Meta:
        model = ResidenceRecord
        fields = [
            "id",
            "person",
            "house_id",
            "state",
            "registered_on",
            "updated_on",
            "cancelled_on",
            "exception_reason",
            "version",
            "actions",
        ]


class PersonInputSerializer(serializers.Serializer[Any]):
    id_type = serializers.ChoiceField(choices=DocumentType.choices, default=DocumentType.RESIDENT_ID)
    id_number = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=60)
    sex = serializers.ChoiceField(choices=Person.Sex.choices, required=False, allow_blank=True, default="")
    birth_date = serializers.DateField(required=False, allow_null=True, default=None)
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    hukou_place = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    employer = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    permit_status = serializers.ChoiceField(choices=Person.PermitStatus.choices, required=False, default="none")


class RegisterSerializer(serializers.Serializer[Any]):
    person = PersonInputSerializer()
    house = serializers.IntegerField(required=False, help_text=gettext_lazy("已有房屋 id；或提供 address"))
    address = inline_serializer(
        "AddressInput",
        {
            "community": serializers.CharField(),
            "road": serializers.CharField(),
            "door_number": serializers.CharField(),
            "building": serializers.CharField(required=False, allow_blank=True, default=""),
            "room": serializers.CharField(required=False, allow_blank=True, default=""),
            "lon": serializers.FloatField(required=False, allow_null=True, default=None),
            "lat": serializers.FloatField(required=False, allow_null=True, default=None),
            "crs": serializers.CharField(required=False, default="wgs84"),
            "use": serializers.ChoiceField(choices=HouseUse.choices, required=False, default=HouseUse.SELF_OCCUPIED),
        },
        required=False,
    )
    on = serializers.DateField(required=False, allow_null=True, default=None)
    txn_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("客户端生成的事务号：重试同一请求不会重复登记"),
    )


def _house_for(request: Request, data: dict[str, Any]) -> House:
    if data.get("house"):
        return selectors.house_get(actor=request.user, house_id=data["house"])
    address = data.get("address")
    if not address:
        raise serializers.ValidationError({"house": [_("请提供房屋 id 或地址")]})
    community = orgunit_get_visible(actor=request.user, code=address["community"])
    building = services.building_get_or_create(
        actor=request.user,
        community=community,
        road=address["road"],
        door_number=address["door_number"],
        name=address["building"],
        lon=address["lon"],
        lat=address["lat"],
        crs=address["crs"],
    )
    return services.house_get_or_create(actor=request.user, building=building, room=address["room"], use=address["use"])


class PersonSearchView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q", str, required=True, description=gettext_lazy("完整证件号码、脱敏证件号码、姓名或手机号")
            )
        ],
        responses=PersonSerializer(many=True),
        summary=gettext_lazy("人员检索（辖区内）"),
    )
    def get(self, request: Request) -> Response:
        people = selectors.person_search(actor=request.user, q=request.query_params.get("q", ""))
        return Response(PersonSerializer(people, many=True).data)


class PersonDetailView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "PersonDetail", {"person": PersonSerializer(), "residences": ResidenceSerializer(many=True)}
        ),
        summary=gettext_lazy("人员及居住历史"),
    )
    def get(self, request: Request, person_id: int) -> Response:
        person = selectors.person_get(actor=request.user, person_id=person_id)
        residences = selectors.person_residences(person=person)
        return Response(
            {"person": PersonSerializer(person).data, "residences": ResidenceSerializer(residences, many=True).data}
        )


class PersonRevealView(APIView):
    @extend_schema(
        request=inline_serializer(
            "RevealRequest",
            {"field": serializers.ChoiceField(choices=["id_number", "phone"]), "reason": serializers.CharField()},
        ),
        responses=inline_serializer("RevealResponse", {"value": serializers.CharField()}),
        summary=gettext_lazy("查看完整证件号码或电话（需权限和事由，记入审计）"),
    )
    def post(self, request: Request, person_id: int) -> Response:
        person = selectors.person_get(actor=request.user, person_id=person_id)
        value = services.person_reveal(
            actor=request.user,
            person=person,
            field=str(request.data.get("field", "")),
            reason=str(request.data.get("reason", "")),
        )
        return Response({"value": value})


class HouseListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("q", str), OpenApiParameter("community", str)],
        responses=HouseSerializer(many=True),
        summary=gettext_lazy("房屋检索（辖区内）"),
    )
    def get(self, request: Request) -> Response:
        houses = selectors.house_search(
            actor=request.user, q=request.query_params.get("q", ""), community=request.query_params.get("community")
        )
        return Response(HouseSerializer(houses, many=True).data)


class HouseDetailView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "HouseDetail", {"house": HouseSerializer(), "residences": ResidenceSerializer(many=True)}
        ),
        summary=gettext_lazy("房屋及居住人员"),
    )
    def get(self, request: Request, house_id: int) -> Response:
        house = selectors.house_get(actor=request.user, house_id=house_id)
        return Response(
            {
                "house": HouseSerializer(house).data,
                "residences": ResidenceSerializer(selectors.house_residences(house=house), many=True).data,
            }
        )


class RegisterView(APIView):
    @extend_schema(request=RegisterSerializer, responses={201: ResidenceSerializer}, summary=gettext_lazy("人来登记"))
    def post(self, request: Request) -> Response:
        payload = RegisterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        house = _house_for(request, data)
        person = services.PersonInput(**data["person"])
        record = services.residence_register(
            actor=request.user, person=person, house=house, on=data["on"], txn_id=data["txn_id"], source="api"
        )
        return Response(ResidenceSerializer(record).data, status=201)


class ResidenceUpdateView(APIView):
    @extend_schema(
        request=inline_serializer(
            "ResidenceUpdate",
            {
                "on": serializers.DateField(required=False),
                "phone": serializers.CharField(required=False),
                "employer": serializers.CharField(required=False),
                "permit_status": serializers.CharField(required=False),
                "expected_version": serializers.IntegerField(required=False),
                "txn_id": serializers.CharField(required=False),
            },
        ),
        responses=ResidenceSerializer,
        summary=gettext_lazy("人在更新"),
    )
    def post(self, request: Request, record_id: int) -> Response:
        record = selectors.record_get(actor=request.user, record_id=record_id)
        data = request.data
        on = serializers.DateField().to_internal_value(data["on"]) if data.get("on") else None
        record = services.residence_update(
            actor=request.user,
            record=record,
            on=on,
            phone=data.get("phone"),
            employer=data.get("employer"),
            permit_status=data.get("permit_status"),
            expected_version=data.get("expected_version"),
            txn_id=data.get("txn_id"),
        )
        return Response(ResidenceSerializer(record).data)


class ResidenceCancelView(APIView):
    @extend_schema(
        request=inline_serializer(
            "ResidenceCancel",
            {
                "reason": serializers.CharField(),
                "on": serializers.DateField(required=False),
                "expected_version": serializers.IntegerField(required=False),
                "txn_id": serializers.CharField(required=False),
            },
        ),
        responses=ResidenceSerializer,
        summary=gettext_lazy("人走注销"),
    )
    def post(self, request: Request, record_id: int) -> Response:
        record = selectors.record_get(actor=request.user, record_id=record_id)
        data = request.data
        on = serializers.DateField().to_internal_value(data["on"]) if data.get("on") else None
        record = services.residence_cancel(
            actor=request.user,
            record=record,
            reason=str(data.get("reason", "")),
            on=on,
            expected_version=data.get("expected_version"),
            txn_id=data.get("txn_id"),
        )
        return Response(ResidenceSerializer(record).data)


# --- rentals and landlords ----------------------------------------------------------------------------


class GroupReasonSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label" in the API


class LandlordOutSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=Landlord.Kind.choices)
    name = serializers.CharField(help_text=gettext_lazy("个人房东姓名脱敏（张*），单位房东为单位名称"))
    document = serializers.CharField(help_text=gettext_lazy("个人为脱敏证件号码，单位为统一社会信用代码"))
    phone_masked = serializers.CharField(allow_blank=True)


class RentalSerializer(serializers.ModelSerializer[Rental]):
    """The landlord is masked like every person: the name keeps the surname, the document is masked."""

    house_id = serializers.IntegerField(read_only=True)
    landlord = serializers.SerializerMethodField()
    group_reasons = serializers.SerializerMethodField()
    area_per_person = serializers.SerializerMethodField(help_text=gettext_lazy("人均居住面积（㎡），无法判定时为 null"))
    group_explanation = serializers.SerializerMethodField(help_text=gettext_lazy("人均面积判定的依据"))

    class Meta:
        model = Rental
        fields = [
            "id",
            "house_id",
            "landlord",
            "start",
            "end",
            "tenants",
            "active",
            "ended_on",
            "end_reason",
            "group_renting",
            "group_reasons",
            "area_per_person",
            "group_explanation",
        ]

    @extend_schema_field(LandlordOutSerializer)
    def get_landlord(self, rental: Rental) -> dict[str, str]:
        landlord = rental.landlord
        if landlord.kind == Landlord.Kind.ORGANISATION or landlord.person is None:
            return {"kind": landlord.kind, "name": landlord.org_name, "document": landlord.uscc, "phone_masked": ""}
        person = landlord.person
        return {
            "kind": landlord.kind,
            "name": pii.mask_name(person.name),
            "document": person.id_masked,
            "phone_masked": person.phone_masked,
        }

    @extend_schema_field(GroupReasonSerializer(many=True))
    def get_group_reasons(self, rental: Rental) -> list[dict[str, str]]:
        return [
            {"code": r, "label": str(Rental.GroupReason(r).label)}
            for r in rental.group_reasons
            if r in Rental.GroupReason.values
        ]

    def _assessment(self, rental: Rental) -> rentals.GroupAssessment:
        return rentals.assess_group_renting(floor_area=rental.house.floor_area, tenants=rental.tenants)

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_area_per_person(self, rental: Rental) -> str | None:
        per_person = self._assessment(rental).per_person
        return None if per_person is None else str(per_person)

    def get_group_explanation(self, rental: Rental) -> str:
        return self._assessment(rental).explanation()


class LandlordInputSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=Landlord.Kind.choices, default=Landlord.Kind.PERSON)
    id_type = serializers.ChoiceField(choices=DocumentType.choices, default=DocumentType.RESIDENT_ID)
    id_number = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("个人房东：按证件号码在登记簿中查找"),
    )
    name = serializers.CharField(
        max_length=60, required=False, allow_blank=True, default="", help_text=gettext_lazy("个人房东尚未登记时填写")
    )
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    org_name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    uscc = serializers.CharField(
        max_length=30,
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("单位房东的统一社会信用代码"),
    )


_REASON_CHOICES = [(c, label) for c, label in Rental.GroupReason.choices if c in rentals.RECORDED_REASONS]


class RentalRegisterSerializer(serializers.Serializer[Any]):
    landlord = LandlordInputSerializer()
    start = serializers.DateField()
    end = serializers.DateField(required=False, allow_null=True, default=None)
    tenants = serializers.IntegerField(required=False, allow_null=True, default=None)
    group_reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=_REASON_CHOICES),
        required=False,
        default=list,
        help_text=gettext_lazy("工作人员核实的群租情形；人均面积不足 5 ㎡由系统自动判定"),
    )


class RentalUpdateSerializer(serializers.Serializer[Any]):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False, allow_null=True)
    tenants = serializers.IntegerField(required=False, allow_null=True)
    group_reasons = serializers.ListField(child=serializers.ChoiceField(choices=_REASON_CHOICES), required=False)


class RentalEndSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(allow_blank=True, default="")
    on = serializers.DateField(required=False, allow_null=True, default=None)


class HouseRentalView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "HouseRentals",
            {"active": RentalSerializer(allow_null=True), "past": RentalSerializer(many=True)},
        ),
        summary=gettext_lazy("房屋的出租登记（有效的和已退租的）"),
    )
    def get(self, request: Request, house_id: int) -> Response:
        house = selectors.house_get(actor=request.user, house_id=house_id)
        active = selectors.house_rental_active(house=house)
        return Response(
            {
                "active": RentalSerializer(active).data if active else None,
                "past": RentalSerializer(selectors.house_rentals_past(house=house), many=True).data,
            }
        )

    @extend_schema(
        request=RentalRegisterSerializer, responses={201: RentalSerializer}, summary=gettext_lazy("出租登记")
    )
    def post(self, request: Request, house_id: int) -> Response:
        house = selectors.house_get(actor=request.user, house_id=house_id)
        payload = RentalRegisterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        rental = services.rental_register(
            actor=request.user,
            house=house,
            landlord=services.LandlordInput(**data["landlord"]),
            start=data["start"],
            end=data["end"],
            tenants=data["tenants"],
            group_reasons=data["group_reasons"],
        )
        return Response(
            RentalSerializer(selectors.rental_get(actor=request.user, rental_id=rental.pk)).data, status=201
        )


class RentalListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("group_renting", bool, description=gettext_lazy("只列出（或排除）群租"))],
        responses=RentalSerializer(many=True),
        summary=gettext_lazy("辖区内有效的出租登记"),
    )
    def get(self, request: Request) -> Response:
        flag = request.query_params.get("group_renting") or ""
        group = None if not flag else flag.lower() in ("1", "true", "yes")
        queryset = selectors.rentals_visible(actor=request.user, group_renting=group)
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(RentalSerializer(page, many=True).data)


class RentalUpdateView(APIView):
    @extend_schema(request=RentalUpdateSerializer, responses=RentalSerializer, summary=gettext_lazy("修改出租登记"))
    def post(self, request: Request, rental_id: int) -> Response:
        rental = selectors.rental_get(actor=request.user, rental_id=rental_id)
        payload = RentalUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        changes = dict(payload.validated_data)
        rental = services.rental_update(actor=request.user, rental=rental, **changes)
        return Response(RentalSerializer(selectors.rental_get(actor=request.user, rental_id=rental.pk)).data)


class RentalEndView(APIView):
    @extend_schema(request=RentalEndSerializer, responses=RentalSerializer, summary=gettext_lazy("退租"))
    def post(self, request: Request, rental_id: int) -> Response:
        rental = selectors.rental_get(actor=request.user, rental_id=rental_id)
        payload = RentalEndSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        rental = services.rental_end(actor=request.user, rental=rental, on=data["on"], reason=data["reason"])
        return Response(RentalSerializer(selectors.rental_get(actor=request.user, rental_id=rental.pk)).data)


# --- exports ------------------------------------------------------------------------------------------


class ExportSerializer(serializers.Serializer[Any]):
    scope = serializers.ChoiceField(choices=[(s, s) for s in exports.SCOPES], help_text="search | house | community")
    q = serializers.CharField(
        required=False, allow_blank=True, default="", help_text=gettext_lazy("scope=search 时的查询内容")
    )
    house = serializers.IntegerField(required=False, allow_null=True, default=None)
    community = serializers.CharField(
        required=False, allow_blank=True, default="", help_text=gettext_lazy("社区/村代码")
    )
    format = serializers.ChoiceField(choices=[("csv", "CSV"), ("xlsx", "XLSX")], default="csv")
    unmasked = serializers.BooleanField(
        required=False,
        default=False,
        help_text=gettext_lazy("导出完整证件号码和电话：需查看完整信息权限和事由，记入审计"),
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ExportView(APIView):
    @extend_schema(
        request=ExportSerializer,
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiTypes.BINARY,
        },
        summary=gettext_lazy("导出人员（默认脱敏；完整导出需权限和事由，记入审计）"),
    )
    def post(self, request: Request) -> HttpResponseBase:
        payload = ExportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        source = exports.export_source(
            actor=request.user, scope=data["scope"], q=data["q"], house_id=data["house"], community=data["community"]
        )
        return exports.export_response(
            actor=request.user, source=source, fmt=data["format"], unmasked=data["unmasked"], reason=data["reason"]
        )
