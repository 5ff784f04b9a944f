"""Reads of grid layers: versions, grids as GeoJSON, point lookup and bulk stamping."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.accounts.selectors import scope_root
from civicgrid.core.errors import NotFound, PermissionDenied
from civicgrid.geo import crs as crs_module
from civicgrid.geo.models import GridFeature, GridLineage, LayerVersion, TopologyProblem
from civicgrid.geo.stamping import GridIndex
from civicgrid.orgunits.models import OrgUnit


def layer_current(*, on: dt.date | None = None) -> LayerVersion | None:
    """The published version in force on a date (today by default)."""
    on = on or timezone.localdate()
    return (
        LayerVersion.objects.filter(
            status__in=[LayerVersion.Status.PUBLISHED, LayerVersion.Status.SUPERSEDED], effective_from__lte=on
        )
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gte=on))
        .order_by("-number")
        .first()
    )


def layer_list(*, actor: Any) -> QuerySet[LayerVersion]:
    """Published versions for everyone; drafts and discarded ones only for those who manage layers."""
    if not has_capability(actor, Capability.VIEW_MAP):
        raise PermissionDenied()
    queryset = LayerVersion.objects.select_related("published_by", "created_by")
    if not has_capability(actor, Capability.MANAGE_GRID_LAYERS):
        queryset = queryset.filter(status__in=[LayerVersion.Status.PUBLISHED, LayerVersion.Status.SUPERSEDED])
    return queryset.order_by("-number", "-created_at")


def layer_get_visible(*, actor: Any, layer_id: int) -> LayerVersion:
    layer = layer_list(actor=actor).filter(pk=layer_id).first()
    if layer is None:
        raise NotFound(_("图层版本 %(id)s 不存在") % {"id": layer_id})
    return layer


def grid_features(
    *,
    actor: Any,
    layer: LayerVersion,
    town: str | None = None,
    community: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> QuerySet[GridFeature]:
    """The grids of a version inside the actor's area, optionally cut to a town, community or box."""
    root = scope_root(actor)
    queryset = layer.features.select_related("community", "community__parent", "grid_unit")
    # A grid worker bound to a grid sees the grids of that grid's community.
    visible_root = root.parent if root.level == "grid" and root.parent is not None else root
    queryset = queryset.filter(community__path__startswith=visible_root.path)
    if town:
        queryset = queryset.filter(community__parent__code=town)
    if community:
        queryset = queryset.filter(community__code=community)
    if bbox:
        min_x, min_y, max_x, max_y = bbox
        queryset = queryset.filter(max_x__gte=min_x, min_x__lte=max_x, max_y__gte=min_y, min_y__lte=max_y)
    return queryset.order_by("code", "proposed_code")


def grid_workers(*, features: list[GridFeature]) -> dict[int, list[str]]:
    """Names of the grid workers bound to each grid unit."""
    from civicgrid.accounts.models import User
    from civicgrid.accounts.roles import Role

    unit_ids = [f.grid_unit_id for f in features if f.grid_unit_id]
    out: dict[int, list[str]] = {}
    for unit_id, name, username in User.objects.filter(
        org_unit_id__in=unit_ids, role=Role.GRID_WORKER, is_active=True
    ).values_list("org_unit_id", "full_name", "username"):
        out.setdefault(unit_id, []).append(name or username)
    return out


def features_geojson(
    features: list[GridFeature], *, crs: str = "wgs84", simplify_m: float = 0.0, workers: bool = True
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of grids with the attributes the map shows."""
    geoms = shapely.from_wkb([bytes(f.geometry) for f in features]) if features else np.zeros(0, dtype=object)
    if simplify_m > 0 and len(geoms):
        geoms = shapely.simplify(geoms, simplify_m / 111_000, preserve_topology=True)
    if crs != "wgs84" and len(geoms):
        from civicgrid.geo.formats import transform_geometries

        geoms = np.asarray(transform_geometries(list(geoms), src="wgs84", dst=crs), dtype=object)
    names = grid_workers(features=features) if workers else {}
    items = []
    for feature, geom in zip(features, geoms, strict=True):
        community = feature.community
        town = community.parent
        items.append(
            {
                "type": "Feature",
                "id": feature.code or f"draft-{feature.pk}",
                "geometry": shapely.geometry.mapping(geom),
                "properties": {
                    "code": feature.code or feature.proposed_code,
                    "name": feature.name,
                    "kind": feature.kind,
                    "community_code": community.code,
                    "community_name": community.name,
                    "town_code": town.code if town else "",
                    "town_name": town.name if town else "",
                    "households": feature.households,
                    "area_km2": round(feature.area_m2 / 1e6, 4),
                    "workers": names.get(feature.grid_unit_id or 0, []),
                },
            }
        )
    return {"type": "FeatureCollection", "features": items}


def problems_geojson(*, layer: LayerVersion) -> dict[str, Any]:
    items = []
    for problem in layer.problems.select_related("community"):
        geometry = None
        if problem.geometry:
            geometry = shapely.geometry.mapping(shapely.from_wkb(bytes(problem.geometry)))
        elif problem.lon is not None:
            geometry = {"type": "Point", "coordinates": [problem.lon, problem.lat]}
        items.append(
            {
                "type": "Feature",
                "id": problem.pk,
                "geometry": geometry,
                "properties": {
                    "kind": problem.kind,
                    "kind_display": str(problem.get_kind_display()),
                    "severity": problem.severity,
                    "codes": problem.codes,
                    "community": problem.community.code if problem.community else "",
                    "area_m2": round(problem.area_m2, 1),
                    "message": problem.message,
                    "lon": problem.lon,
                    "lat": problem.lat,
                },
            }
        )
    return {"type": "FeatureCollection", "features": items}


def problem_list(*, layer: LayerVersion) -> QuerySet[TopologyProblem]:
    return layer.problems.select_related("community").order_by("severity", "kind", "id")


def lineage_list(*, layer: LayerVersion) -> QuerySet[GridLineage]:
    return layer.lineage.order_by("from_code", "to_code")


# --- stamping ------------------------------------------------------------------------------------------


@dataclass
class LayerIndex:
    layer_id: int
    index: GridIndex
    codes: list[str]
    communities: list[str]
    towns: list[str]


_cache: dict[int, LayerIndex] = {}
_cache_lock = threading.Lock()


def forget_index() -> None:
    """Drop cached indexes (after a publish: superseded versions keep theirs valid, but memory is freed)."""
    with _cache_lock:
        _cache.clear()


def layer_index(layer: LayerVersion) -> LayerIndex:
    """The point-in-grid index of a published version, built once per process (published layers never
    change). Drafts are indexed afresh each time."""
    cacheable = layer.status != LayerVersion.Status.DRAFT
    if cacheable and layer.pk in _cache:
        return _cache[layer.pk]
    rows = list(
        layer.features.values_list("code", "proposed_code", "community__code", "community__parent__code", "geometry")
    )
    # Keys sort by code so that a point on a shared border deterministically goes to the lowest code.
    rows.sort(key=lambda r: r[0] or r[1])
    geoms = shapely.from_wkb([bytes(r[4]) for r in rows]) if rows else []
    entry = LayerIndex(
        layer.pk,
        GridIndex(list(geoms), [r[0] or r[1] for r in rows]),
        [r[0] or r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] or "" for r in rows],
    )
    if cacheable:
        with _cache_lock:
            _cache[layer.pk] = entry
    return entry


@dataclass(frozen=True)
class Stamp:
    grid: str | None
    community: str | None
    town: str | None

    @property
    def outside(self) -> bool:
        return self.grid is None


def stamp_points(
    *, layer: LayerVersion, xs: np.ndarray, ys: np.ndarray, crs: str = "wgs84"
) -> tuple[np.ndarray, LayerIndex]:
    """Indices into the layer index's codes for each point (-1 = outside every grid)."""
    if crs != "wgs84":
        xs, ys = crs_module.transform(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), src=crs, dst="wgs84")
    entry = layer_index(layer)
    return entry.index.lookup(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)), entry


def stamp_point(*, layer: LayerVersion, x: float, y: float, crs: str = "wgs84") -> Stamp:
    indices, entry = stamp_points(layer=layer, xs=np.asarray([x]), ys=np.asarray([y]), crs=crs)
    i = int(indices[0])
    if i < 0:
        return Stamp(None, None, None)
    return Stamp(entry.codes[i], entry.communities[i], entry.towns[i])


def layer_stats(*, layer: LayerVersion) -> dict[str, Any]:
    features = layer.features.values_list("community__parent__code", "households")
    per_town = Counter(town for town, _ in features)
    return {
        "grids": sum(per_town.values()),
        "towns": len(per_town),
        "communities": layer.features.values("community").distinct().count(),
    }


def orgunit_names(codes: list[str]) -> dict[str, str]:
    return dict(OrgUnit.objects.filter(code__in=codes).values_list("code", "name"))
