"""Exporting a layer version as a file download (shared by the API and the pages)."""

from __future__ import annotations

from typing import Any

import shapely
from django.http import HttpResponse
from django.utils.translation import gettext as _

from civicgrid.audit.services import audit_record
from civicgrid.core.errors import ValidationFailed
from civicgrid.geo import formats
from civicgrid.geo.models import GridFeature, LayerVersion

FORMATS = {
    "geojson": ("application/geo+json", "geojson"),
    "shapefile": ("application/zip", "zip"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}


def export_features(layer: LayerVersion, features: list[GridFeature]) -> list[formats.ExportFeature]:
    geoms = shapely.from_wkb([bytes(f.geometry) for f in features]) if features else []
    return [
        formats.ExportFeature(
            code=f.code or f.proposed_code,
            name=f.name,
            parent_code=f.community.code,
            kind=f.kind,
            households=f.households,
            geometry=g,
        )
        for f, g in zip(features, geoms, strict=True)
    ]


def layer_export_bytes(layer: LayerVersion, fmt: str, crs: str) -> bytes:
    features = list(layer.features.select_related("community").order_by("code", "proposed_code"))
    items = export_features(layer, features)
    if fmt == "geojson":
        metadata = {
            "layer": layer.number,
            "name": layer.name,
            "synthetic": layer.synthetic,
            "note": _("合成演示边界，非官方数据") if layer.synthetic else "",
        }
        return formats.write_geojson(items, crs=crs, metadata=metadata)
    if fmt == "shapefile":
        return formats.write_shapefile_zip(items, crs=crs, stem=f"grids_v{layer.number or 'draft'}")
    if fmt == "csv":
        return formats.write_csv(items, crs=crs)
    raise ValidationFailed(fields={"format": [_unsupported(fmt)]})


def _unsupported(fmt: str) -> str:
    return _("不支持的导出格式：%(format)s（geojson、shapefile、csv）") % {"format": fmt}


def layer_export_response(*, actor: Any, layer: LayerVersion, fmt: str, crs: str) -> HttpResponse:
    if fmt not in FORMATS:
        raise ValidationFailed(fields={"format": [_unsupported(fmt)]})
    content = layer_export_bytes(layer, fmt, crs)
    content_type, extension = FORMATS[fmt]
    label = f"v{layer.number}" if layer.number else f"draft{layer.pk}"
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="grids_{label}_{crs}.{extension}"'
    audit_record(actor=actor, action="layers.export", target=layer, detail={"format": fmt, "crs": crs})
    return response
