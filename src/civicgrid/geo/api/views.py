"""Grid layer API: versions (import, check, publish, export), grids as GeoJSON, point lookup, stamping."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.core.errors import ValidationFailed
from civicgrid.geo import crs as crs_module
from civicgrid.geo import exports, formats, selectors, services
from civicgrid.geo.models import LayerVersion


class LayerSerializer(serializers.ModelSerializer[LayerVersion]):
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    features = serializers.IntegerField(source="features.count", read_only=True)

    class Meta:
        model = LayerVersion
        fields = [
            "id",
            "number",
            "name",
            "note",
            "status",
            "status_display",
            "synthetic",
            "source_name",
            "source_crs",
            "effective_from",
            "effective_until",
            "created_at",
            "published_at",
            "checked_at",
            "check_summary",
            "features",
        ]


class LayerImportSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text=gettext_lazy("GeoJSON 或 Shapefile（zip）"))
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")
    crs = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("文件未声明坐标系时采用：wgs84 | cgcs2000 | gcj02 | bd09 | epsg4547"),
    )


def _crs_param(request: Request, default: str = "wgs84") -> str:
    value = request.query_params.get("crs") or default
    try:
        return crs_module.parse_crs(value)
    except ValueError as exc:
        raise ValidationFailed(fields={"crs": [formats.crs_error_text(exc)]}) from None


def _float(request: Request, name: str) -> float:
    try:
        value = float(request.query_params[name])
    except (KeyError, ValueError):
        raise ValidationFailed(fields={name: [_("%(name)s 必须是数字") % {"name": name}]}) from None
    if not np.isfinite(value):
        raise ValidationFailed(fields={name: [_("%(name)s 必须是有限数字") % {"name": name}]})
    return value


def _layer_for(request: Request) -> LayerVersion:
    if request.query_params.get("layer"):
        try:
            layer_id = int(request.query_params["layer"])
        except ValueError:
            raise ValidationFailed(fields={"layer": [_("layer 必须是图层版本编号")]}) from None
        return selectors.layer_get_visible(actor=request.user, layer_id=layer_id)
    on = None
    if request.query_params.get("date"):
        try:
            on = dt.date.fromisoformat(request.query_params["date"])
        except ValueError:
            raise ValidationFailed(fields={"date": [_("日期格式应为 YYYY-MM-DD")]}) from None
    layer = selectors.layer_current(on=on)
    if layer is None:
        raise ValidationFailed(fields={"layer": [_("该日期没有现行的网格图层")]})
    return layer


class LayerListView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=LayerSerializer(many=True), summary=gettext_lazy("网格图层版本"))
    def get(self, request: Request) -> Response:
        return Response(LayerSerializer(selectors.layer_list(actor=request.user), many=True).data)

    @extend_schema(
        request=LayerImportSerializer,
        responses={201: LayerSerializer},
        summary=gettext_lazy("导入图层文件为草稿（任何要素有错则不导入）"),
    )
    def post(self, request: Request) -> Response:
        payload = LayerImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        upload = payload.validated_data["file"]
        layer = services.layer_import(
            actor=request.user,
            data=upload.read(),
            filename=upload.name,
            name=payload.validated_data["name"],
            crs=payload.validated_data["crs"] or None,
            note=payload.validated_data["note"],
        )
        return Response(LayerSerializer(layer).data, status=201)


class LayerDetailView(APIView):
    @extend_schema(responses=LayerSerializer, summary=gettext_lazy("图层版本详情"))
    def get(self, request: Request, layer_id: int) -> Response:
        return Response(LayerSerializer(selectors.layer_get_visible(actor=request.user, layer_id=layer_id)).data)


class LayerCheckView(APIView):
    @extend_schema(request=None, responses=LayerSerializer, summary=gettext_lazy("拓扑检查"))
    def post(self, request: Request, layer_id: int) -> Response:
        layer = selectors.layer_get_visible(actor=request.user, layer_id=layer_id)
        services.layer_check(actor=request.user, layer=layer)
        layer.refresh_from_db()
        return Response(LayerSerializer(layer).data)


class LayerPublishView(APIView):
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        request=inline_serializer("LayerPublish", {"effective_from": serializers.DateField(required=False)}),
        responses=LayerSerializer,
        summary=gettext_lazy("发布为现行版本（固定编码）"),
    )
    def post(self, request: Request, layer_id: int) -> Response:
        layer = selectors.layer_get_visible(actor=request.user, layer_id=layer_id)
        field = serializers.DateField(required=False)
        raw = request.data.get("effective_from")
        try:
            effective_from = field.to_internal_value(raw) if raw else None
        except serializers.ValidationError:
            raise ValidationFailed(fields={"effective_from": [_("日期格式应为 YYYY-MM-DD")]}) from None
        layer = services.layer_publish(actor=request.user, layer=layer, effective_from=effective_from)
        return Response(LayerSerializer(layer).data)


class LayerDiscardView(APIView):
    @extend_schema(request=None, responses=LayerSerializer, summary=gettext_lazy("废弃草稿"))
    def post(self, request: Request, layer_id: int) -> Response:
        layer = selectors.layer_get_visible(actor=request.user, layer_id=layer_id)
        return Response(LayerSerializer(services.layer_discard(actor=request.user, layer=layer)).data)


class LayerDraftView(APIView):
    @extend_schema(
        request=inline_serializer("LayerDraft", {"name": serializers.CharField(required=False)}),
        responses={201: LayerSerializer},
        summary=gettext_lazy("基于该版本新建调整草稿"),
    )
    def post(self, request: Request, layer_id: int) -> Response:
        base = selectors.layer_get_visible(actor=request.user, layer_id=layer_id)
        draft = services.layer_draft_from(actor=request.user, base=base, name=str(request.data.get("name", "")))
        return Response(LayerSerializer(draft).data, status=201)


class LayerBoundariesView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request=LayerImportSerializer,
        responses=inline_serializer("BoundaryImport", {"imported": serializers.IntegerField()}),
        summary=gettext_lazy("导入社区/镇街边界到草稿"),
    )
    def post(self, request: Request, layer_id: int) -> Response:
        layer = selectors.layer_get_visible(actor=request.user, layer_id=layer_id)
        upload = request.data.get("file")
        if upload is None:
            raise ValidationFailed(fields={"file": [_("请选择文件")]})
        count = services.boundaries_import(
            actor=request.user,
            layer=layer,
            data=upload.read(),
            filename=upload.name,
            crs=request.data.get("crs") or None,
        )
        return Response({"imported": count})


class LayerProblemsView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary=gettext_lazy("拓扑问题（GeoJSON）"))
    def get(self, request: Request, layer_id: int) -> Response:
        layer = selectors.layer_get_visible(actor=request.user, layer_id=layer_id)
        return Response(selectors.problems_geojson(layer=layer))


class LayerLineageView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary=gettext_lazy("网格沿革（拆分、合并、调整）"))
    def get(self, request: Request, layer_id: int) -> Response:
        layer = selectors.layer_get_visible(actor=request.user, layer_id=layer_id)
        return Response(
            [
                {
                    "from_code": e.from_code,
                    "to_code": e.to_code,
                    "kind": e.kind,
                    "share_of_old": e.share_of_old,
                    "share_of_new": e.share_of_new,
                }
                for e in selectors.lineage_list(layer=layer)
            ]
        )


class LayerExportView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["geojson", "shapefile", "csv"]),
            OpenApiParameter("crs", str, enum=["wgs84", "cgcs2000", "gcj02", "bd09", "epsg4547"]),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        summary=gettext_lazy("导出图层"),
    )
    def get(self, request: Request, layer_id: int) -> HttpResponse:
        layer = selectors.layer_get_visible(actor=request.user, layer_id=layer_id)
        return exports.layer_export_response(
            actor=request.user, layer=layer, fmt=request.query_params.get("format", "geojson"), crs=_crs_param(request)
        )


_GRID_PARAMS = [
    OpenApiParameter("layer", int, description=gettext_lazy("图层版本 id（默认：现行版本）")),
    OpenApiParameter("date", str, description=gettext_lazy("取该日期现行的版本 YYYY-MM-DD")),
    OpenApiParameter("town", str),
    OpenApiParameter("community", str),
    OpenApiParameter("bbox", str, description="minLon,minLat,maxLon,maxLat（WGS-84）"),
    OpenApiParameter("crs", str, description=gettext_lazy("输出坐标系（默认 wgs84）")),
]


class GridListView(APIView):
    @extend_schema(
        parameters=_GRID_PARAMS, responses=OpenApiTypes.OBJECT, summary=gettext_lazy("网格（GeoJSON，按辖区）")
    )
    def get(self, request: Request) -> Response:
        layer = _layer_for(request)
        bbox = None
        if request.query_params.get("bbox"):
            try:
                parts = [float(v) for v in request.query_params["bbox"].split(",")]
                if len(parts) != 4:
                    raise ValueError
                bbox = (parts[0], parts[1], parts[2], parts[3])
            except ValueError:
                raise ValidationFailed(fields={"bbox": [_("bbox 应为 minLon,minLat,maxLon,maxLat")]}) from None
        features = list(
            selectors.grid_features(
                actor=request.user,
                layer=layer,
                town=request.query_params.get("town"),
                community=request.query_params.get("community"),
                bbox=bbox,
            )
        )
        simplify = float(request.query_params.get("simplify_m", "0") or 0)
        body = selectors.features_geojson(features, crs=_crs_param(request), simplify_m=min(max(simplify, 0), 50))
        body["layer"] = {
            "id": layer.pk,
            "number": layer.number,
            "name": layer.name,
            "status": layer.status,
            "synthetic": layer.synthetic,
        }
        return Response(body)


class GridLookupView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("lon", float, required=True),
            OpenApiParameter("lat", float, required=True),
            *[p for p in _GRID_PARAMS if p.name in ("layer", "date", "crs")],
        ],
        responses=inline_serializer(
            "GridLookup",
            {
                "outside": serializers.BooleanField(),
                "grid": serializers.CharField(allow_null=True),
                "community": serializers.CharField(allow_null=True),
                "town": serializers.CharField(allow_null=True),
                "layer": serializers.IntegerField(),
            },
        ),
        summary=gettext_lazy("按坐标查所在网格"),
    )
    def get(self, request: Request) -> Response:
        layer = _layer_for(request)
        stamp = selectors.stamp_point(
            layer=layer, x=_float(request, "lon"), y=_float(request, "lat"), crs=_crs_param(request)
        )
        names = selectors.orgunit_names([c for c in (stamp.grid, stamp.community, stamp.town) if c])
        return Response(
            {
                "outside": stamp.outside,
                "grid": stamp.grid,
                "community": stamp.community,
                "town": stamp.town,
                "grid_name": names.get(stamp.grid or ""),
                "community_name": names.get(stamp.community or ""),
                "town_name": names.get(stamp.town or ""),
                "layer": layer.pk,
            }
        )


class GridStampView(APIView):
    MAX_POINTS = 100_000

    @extend_schema(
        request=inline_serializer(
            "StampRequest",
            {
                "points": serializers.ListField(child=serializers.ListField(child=serializers.FloatField())),
                "crs": serializers.CharField(required=False),
                "layer": serializers.IntegerField(required=False),
            },
        ),
        responses=OpenApiTypes.OBJECT,
        summary=gettext_lazy("批量落图：每个点所在的网格（-1 即网格外）"),
    )
    def post(self, request: Request) -> Response:
        points = request.data.get("points")
        if not isinstance(points, list) or not points:
            raise ValidationFailed(fields={"points": [_("points 应为 [[经度, 纬度], …]")]})
        if len(points) > self.MAX_POINTS:
            raise ValidationFailed(
                fields={
                    "points": [
                        ngettext("一次最多 %(n)d 个点", "一次最多 %(n)d 个点", self.MAX_POINTS) % {"n": self.MAX_POINTS}
                    ]
                }
            )
        try:
            coords = np.asarray(points, dtype=float)
            if coords.ndim != 2 or coords.shape[1] != 2:
                raise ValueError
        except (ValueError, TypeError):
            raise ValidationFailed(fields={"points": [_("每个点应为 [经度, 纬度] 两个数字")]}) from None
        if request.data.get("layer"):
            layer = selectors.layer_get_visible(actor=request.user, layer_id=int(request.data["layer"]))
        else:
            layer = _layer_for(request)
        try:
            source = crs_module.parse_crs(str(request.data.get("crs") or "wgs84"))
        except ValueError as exc:
            raise ValidationFailed(fields={"crs": [formats.crs_error_text(exc)]}) from None
        indices, entry = selectors.stamp_points(layer=layer, xs=coords[:, 0], ys=coords[:, 1], crs=source)
        return Response(
            {
                "layer": layer.pk,
                "grids": [entry.codes[i] if i >= 0 else None for i in indices.tolist()],
                "communities": [entry.communities[i] if i >= 0 else None for i in indices.tolist()],
                "towns": [entry.towns[i] if i >= 0 else None for i in indices.tolist()],
            }
        )
