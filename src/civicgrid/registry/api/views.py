"""Register API: search, houses, persons, residence lifecycle, reveal. Area-scoped; one error shape."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.accounts.selectors import orgunit_get_visible
from civicgrid.core.idnumbers import DocumentType
from civicgrid.registry import selectors, services
from civicgrid.registry.models import House, HouseUse, Person, ResidenceAction, ResidenceRecord


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
    house = serializers.IntegerField(required=False, help_text="已有房屋 id；或提供 address")
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
        help_text="客户端生成的事务号：重试同一请求不会重复登记",
    )


def _house_for(request: Request, data: dict[str, Any]) -> House:
    if data.get("house"):
        return selectors.house_get(actor=request.user, house_id=data["house"])
    address = data.get("address")
    if not address:
        raise serializers.ValidationError({"house": ["请提供房屋 id 或地址"]})
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
        parameters=[OpenApiParameter("q", str, required=True, description="完整证件号码、脱敏证件号码、姓名或手机号")],
        responses=PersonSerializer(many=True),
        summary="人员检索（辖区内）",
    )
    def get(self, request: Request) -> Response:
        people = selectors.person_search(actor=request.user, q=request.query_params.get("q", ""))
        return Response(PersonSerializer(people, many=True).data)


class PersonDetailView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "PersonDetail", {"person": PersonSerializer(), "residences": ResidenceSerializer(many=True)}
        ),
        summary="人员及居住历史",
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
        summary="查看完整证件号码或电话（需权限和事由，记入审计）",
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
        summary="房屋检索（辖区内）",
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
        summary="房屋及居住人员",
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
    @extend_schema(request=RegisterSerializer, responses={201: ResidenceSerializer}, summary="人来登记")
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
        summary="人在更新",
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
        summary="人走注销",
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
