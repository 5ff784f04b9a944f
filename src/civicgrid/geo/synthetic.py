"""SYNTHETIC demo boundaries: a made-up partition of a district into towns/streets, communities and grids.

There are no openly licensed town or community polygons for Panyu and the shipped district outline is a
35-vertex approximation, so the demo layer is *generated*: deterministic from a seed, plausible in shape,
and not official in any way. Whatever shows these polygons must say so (`SYNTHETIC_NOTICE`).

Method (pure function, no Django): work in a local kilometre plane around the outline,
1. towns: a power diagram (weighted Voronoi) of one site per town, with the weights tuned and the sites
   relaxed (Lloyd) so that each town's area is proportional to its number of communities;
2. communities: a Lloyd-relaxed Voronoi diagram inside each town, one cell per community;
3. grids: `grids_total` distributed over the communities in proportion to their area (at least
   `min_grids_per_community` each), then a Lloyd-relaxed Voronoi diagram inside each community.
A clipped cell that falls apart keeps its largest part; the other parts go to the neighbour sharing the
longest border. Finally every grid boundary and the outline are noded together on a 1e-7° precision grid
(snap rounding, ≈1 cm) and polygonised, so neighbouring grids share exactly the same vertices; grids are
rebuilt from those faces, and communities and towns are the unions of their grids. The result is a valid
polygonal coverage without gaps or overlaps, and the same inputs and seed give byte-identical WKB.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from civicgrid.geo.codes import CodeLayout

GRID_SIZE = 1e-7  # degrees, ≈1 cm: the precision grid every output coordinate is snapped to
DEFAULT_SEED = 20261125
SYNTHETIC_NOTICE = (
    "示意数据：镇街、社区和网格边界由程序按随机种子生成，并非官方行政界线，不得用于任何正式用途。"
    " Synthetic demo boundaries generated from a random seed; not official boundaries."
)
TOWN_KINDS = frozenset({"street", "town"})
COMMUNITY_KINDS = frozenset({"community", "village"})

_TOWN_ITERATIONS = 60
_COMMUNITY_ITERATIONS = 20
_GRID_ITERATIONS = 10
_MERGE_EPS_KM = 1e-6  # 1 mm: "touching" in the working plane, where float noise is ~1e-12 km

GeomArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SyntheticPartition:
    """Code → polygon (WGS-84 lon/lat) per level, and the parent of each unit. NOT OFFICIAL BOUNDARIES."""

    seed: int
    towns: dict[str, Polygon]
    communities: dict[str, Polygon]
    grids: dict[str, Polygon]  # grid code → polygon, ordered by code
    community_town: dict[str, str]  # community code → town code
    grid_community: dict[str, str]  # grid code → community code
    notice: str = field(default=SYNTHETIC_NOTICE)

    def feature_collection(self, level: str) -> dict[str, Any]:
        """A GeoJSON FeatureCollection of one level ("town", "community" or "grid"), every feature and the
        collection itself marked synthetic."""
        items: list[tuple[str, Polygon, str | None]]
        if level == "town":
            items = [(code, geom, None) for code, geom in self.towns.items()]
        elif level == "community":
            items = [(code, geom, self.community_town[code]) for code, geom in self.communities.items()]
        elif level == "grid":
            items = [(code, geom, self.grid_community[code]) for code, geom in self.grids.items()]
        else:
            raise ValueError(f"unknown level {level!r} (town, community or grid)")
        features = [
            {
                "type": "Feature",
                "geometry": mapping(geom),
                "properties": {"code": code, "parent_code": parent, "synthetic": True},
            }
            for code, geom, parent in items
        ]
        return {
            "type": "FeatureCollection",
            "synthetic": True,
            "seed": self.seed,
            "notice": self.notice,
            "features": features,
        }


# --- inputs ------------------------------------------------------------------------------------------------


def parse_divisions(text: str) -> list[tuple[str, list[str]]]:
    """(town code, [community codes]) from a division CSV (`code,name,level,parent_code`), both sorted by
    code. Streets and towns are the town level; communities and villages the community level."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    towns: list[str] = []
    children: dict[str, list[str]] = defaultdict(list)
    for row in reader:
        record = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if record.get("level") in TOWN_KINDS:
            towns.append(record["code"])
        elif record.get("level") in COMMUNITY_KINDS:
            children[record["parent_code"]].append(record["code"])
    orphans = sorted(set(children) - set(towns))
    if orphans:
        raise ValueError(f"communities whose parent is not a town/street: {', '.join(orphans)}")
    return [(town, sorted(children[town])) for town in sorted(towns)]


def parse_outline(text: str) -> Polygon | MultiPolygon:
    """The (multi)polygon of a GeoJSON geometry, Feature or FeatureCollection (all features unioned)."""
    data = json.loads(text)
    kind = data.get("type")
    if kind == "FeatureCollection":
        geometries = [shape(f["geometry"]) for f in data.get("features", []) if f.get("geometry")]
    elif kind == "Feature":
        geometries = [shape(data["geometry"])] if data.get("geometry") else []
    else:
        geometries = [shape(data)]
    if not geometries:
        raise ValueError("the outline GeoJSON holds no geometry")
    geometry = geometries[0] if len(geometries) == 1 else shapely.union_all(geometries)
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise ValueError(f"the outline is a {geometry.geom_type}, not a polygon")
    return geometry


def load_panyu_inputs() -> tuple[Polygon | MultiPolygon, list[tuple[str, list[str]]]]:
    """The shipped Panyu outline (approximate, not official) and its 16 towns/streets with their 276
    communities, read from the `civicgrid.orgunits` package data."""
    data = resources.files("civicgrid.orgunits") / "data"
    outline = parse_outline((data / "panyu_district_outline.geojson").read_text(encoding="utf-8"))
    towns = parse_divisions((data / "panyu_divisions.csv").read_text(encoding="utf-8"))
    return outline, towns


# --- the partition -----------------------------------------------------------------------------------------


def synthetic_partition(
    *,
    outline: Polygon | MultiPolygon,
    towns: Sequence[tuple[str, Sequence[str]]],
    grids_total: int = 3000,
    seed: int = DEFAULT_SEED,
    min_grids_per_community: int = 3,
    layout: CodeLayout | None = None,
) -> SyntheticPartition:
    """Partition `outline` (WGS-84 lon/lat) into the given towns, their communities and about
    `grids_total` grids (exactly, unless the per-community minimum forces more). Grid codes follow
    `layout` (default: community code + 3-digit sequence from 001), numbered per community in reading
    order of their centroids: rows north→south, west→east within a row."""
    layout = layout or CodeLayout()
    district = _single_outline(outline)
    town_codes = [code for code, _ in towns]
    community_codes = [code for _, members in towns for code in members]
    if not towns or any(not members for _, members in towns):
        raise ValueError("every town needs at least one community")
    if len(set(town_codes)) != len(town_codes) or len(set(community_codes)) != len(community_codes):
        raise ValueError("town and community codes must be unique")
    if grids_total < min_grids_per_community * len(community_codes):
        raise ValueError(f"grids_total must be at least {min_grids_per_community} per community")
    rng = np.random.default_rng(seed)
    plane = _Plane.around(district)
    district_km = plane.to_km(district)

    # 1. Towns: area proportional to the number of communities.
    weights = np.array([len(members) for _, members in towns], dtype=float)
    town_cells = _power_partition(district_km, weights, rng, _TOWN_ITERATIONS)

    # 2. Communities inside each town, codes in reading order of the cells.
    community_cells: list[Polygon] = []
    community_of_town: list[int] = []
    for t, (_, members) in enumerate(towns):
        cells = _lloyd_partition(town_cells[t], len(members), rng, _COMMUNITY_ITERATIONS)
        community_cells.extend(cells[i] for i in _reading_order(cells))
        community_of_town.extend([t] * len(members))

    # 3. Grids inside each community.
    counts = _allocate(np.array([c.area for c in community_cells]), grids_total, min_grids_per_community)
    raw_grids: list[Polygon] = []
    grid_of_community: list[int] = []
    for c, cell in enumerate(community_cells):
        raw_grids.extend(_lloyd_partition(cell, int(counts[c]), rng, _GRID_ITERATIONS))
        grid_of_community.extend([c] * int(counts[c]))

    # 4. One noded, snapped coverage; communities and towns are unions of grids.
    grids_deg = _snap_coverage(
        plane.to_deg(np.asarray(raw_grids, dtype=object)), np.asarray(grid_of_community), district
    )
    communities_deg = _unions(grids_deg, np.asarray(grid_of_community), len(community_cells), "community")
    towns_deg = _unions(communities_deg, np.asarray(community_of_town), len(towns), "town")

    grids: dict[str, Polygon] = {}
    grid_community: dict[str, str] = {}
    members_of: dict[int, list[int]] = defaultdict(list)
    for g, c in enumerate(grid_of_community):
        members_of[c].append(g)
    for c, indices in sorted(members_of.items()):
        for sequence, local in enumerate(_reading_order([grids_deg[g] for g in indices]), start=1):
            code = layout.make(community_codes[c], sequence)
            grids[code] = _canonical(grids_deg[indices[local]])
            grid_community[code] = community_codes[c]
    order = sorted(grids)
    result = SyntheticPartition(
        seed=seed,
        towns={code: _canonical(towns_deg[t]) for t, code in enumerate(town_codes)},
        communities={code: _canonical(communities_deg[c]) for c, code in enumerate(community_codes)},
        grids={code: grids[code] for code in order},
        community_town={code: town_codes[community_of_town[c]] for c, code in enumerate(community_codes)},
        grid_community={code: grid_community[code] for code in order},
    )
    _verify(result)
    return result


# --- working plane -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plane:
    """Local equirectangular plane in km centred on the district (good to ~0.1% over a district)."""

    lon0: float
    lat0: float
    kx: float  # km per degree of longitude at lat0
    ky: float  # km per degree of latitude at lat0

    @classmethod
    def around(cls, geometry: BaseGeometry) -> _Plane:
        centre = geometry.centroid
        phi = math.radians(centre.y)
        kx = 111.41288 * math.cos(phi) - 0.09350 * math.cos(3 * phi) + 0.00012 * math.cos(5 * phi)
        ky = 111.13295 - 0.55982 * math.cos(2 * phi) + 0.00117 * math.cos(4 * phi)
        return cls(centre.x, centre.y, kx, ky)

    def to_km(self, geometry: Any) -> Any:
        origin, scale = np.array([self.lon0, self.lat0]), np.array([self.kx, self.ky])
        return shapely.transform(geometry, lambda xy: (xy - origin) * scale)

    def to_deg(self, geometry: Any) -> Any:
        origin, scale = np.array([self.lon0, self.lat0]), np.array([self.kx, self.ky])
        return shapely.transform(geometry, lambda xy: xy / scale + origin)


def _single_outline(outline: Polygon | MultiPolygon) -> Polygon:
    polygon: BaseGeometry = outline
    if isinstance(outline, MultiPolygon):
        parts = [p for p in outline.geoms if not p.is_empty]
        if len(parts) != 1:
            raise ValueError("the outline must be one polygon (a partition of islands cannot be single polygons)")
        polygon = parts[0]
    if not isinstance(polygon, Polygon) or polygon.is_empty or not polygon.is_valid:
        raise ValueError("the outline must be a valid, non-empty polygon")
    snapped = shapely.set_precision(polygon, GRID_SIZE)
    if not isinstance(snapped, Polygon) or not snapped.is_valid:
        raise ValueError("the outline does not survive snapping to the 1e-7° grid")
    return snapped


# --- cells -------------------------------------------------------------------------------------------------


def _random_points(polygon: Polygon, n: int, rng: np.random.Generator) -> FloatArray:
    """n uniform random points inside polygon (rejection sampling from its bounding box)."""
    minx, miny, maxx, maxy = polygon.bounds
    fill = max(polygon.area / ((maxx - minx) * (maxy - miny)), 0.05)
    found: list[FloatArray] = []
    total = 0
    for _ in range(1000):
        batch = int((n - total) / fill * 1.5) + 16
        points = rng.uniform((minx, miny), (maxx, maxy), size=(batch, 2))
        inside = points[shapely.contains_xy(polygon, points[:, 0], points[:, 1])]
        found.append(inside)
        total += len(inside)
        if total >= n:
            return np.concatenate(found)[:n]
    raise RuntimeError("could not place seed points inside a polygon")


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    """The polygonal parts of an overlay result, largest first (lines and points of touching dropped)."""
    parts = [p for p in shapely.get_parts(geometry) if isinstance(p, Polygon) and p.area > 0]
    return sorted(parts, key=lambda p: -p.area)


def _voronoi_cells(sites: FloatArray, parent: Polygon) -> GeomArray:
    if len(sites) == 1:
        return np.asarray([parent], dtype=object)
    diagram = shapely.voronoi_polygons(shapely.multipoints(sites), extend_to=parent, ordered=True)
    cells = shapely.get_parts(diagram)
    if len(cells) != len(sites):
        raise RuntimeError("Voronoi diagram lost a site")
    return np.asarray(shapely.intersection(cells, parent), dtype=object)


def _relaxed_sites(cells: GeomArray, sites: FloatArray, parent: Polygon) -> FloatArray:
    """Lloyd step: each site moves to its cell's centroid, or to a point inside the cell when the
    centroid falls outside the parent (a concave cell), or stays when its cell is empty."""
    empty = shapely.is_empty(cells)
    safe = np.where(empty, parent, cells)
    centroids = shapely.centroid(safe)
    inside = shapely.contains(parent, centroids)
    points = np.where(inside, centroids, shapely.point_on_surface(safe))
    moved = shapely.get_coordinates(points)
    return np.where(empty[:, None], sites, moved)


def _lloyd_partition(parent: Polygon, n: int, rng: np.random.Generator, iterations: int) -> list[Polygon]:
    if n == 1:
        return [parent]
    shapely.prepare(parent)
    sites = _random_points(parent, n, rng)
    for _ in range(iterations):
        sites = _relaxed_sites(_voronoi_cells(sites, parent), sites, parent)
    return _single_parts(list(_voronoi_cells(sites, parent)))


def _power_partition(parent: Polygon, weights: FloatArray, rng: np.random.Generator, iterations: int) -> list[Polygon]:
    """Cells with areas ≈ proportional to weights: a power diagram whose weights are tuned towards the
    target areas while the sites are Lloyd-relaxed."""
    n = len(weights)
    if n == 1:
        return [parent]
    shapely.prepare(parent)
    target = weights / weights.sum() * parent.area
    sites = _random_points(parent, n, rng)
    power = np.zeros(n)
    minx, miny, maxx, maxy = parent.bounds
    margin = max(maxx - minx, maxy - miny)
    frame = (minx - margin, miny - margin, maxx + margin, maxy + margin)
    cells = np.empty(n, dtype=object)
    for _ in range(iterations):
        cells = np.asarray(shapely.intersection(_power_cells(sites, power, frame), parent), dtype=object)
        areas = shapely.area(cells)
        # dA/dw ≈ √3 for a hexagonal cell; a damped step converges without oscillating.
        power += 0.35 * (target - areas)
        power -= power.mean()
        sites = _relaxed_sites(cells, sites, parent)
    cells = np.asarray(shapely.intersection(_power_cells(sites, power, frame), parent), dtype=object)
    if np.any(shapely.is_empty(cells)):
        raise RuntimeError("a town cell vanished; try another seed")
    return _single_parts(list(cells))


def _power_cells(sites: FloatArray, power: FloatArray, frame: tuple[float, float, float, float]) -> GeomArray:
    """Power diagram cells clipped to a frame: cell i = {x : |x−sᵢ|² − wᵢ ≤ |x−sⱼ|² − wⱼ for all j}."""
    minx, miny, maxx, maxy = frame
    cells = []
    norms = (sites**2).sum(axis=1)
    for i in range(len(sites)):
        ring = [(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy)]
        for j in range(len(sites)):
            if j == i or len(ring) < 3:
                continue
            a, b = 2 * (sites[j] - sites[i])
            c = norms[j] - norms[i] - power[j] + power[i]
            ring = _clip(ring, float(a), float(b), float(c))
        cells.append(Polygon(ring) if len(ring) >= 3 else Polygon())
    return np.asarray(cells, dtype=object)


def _clip(ring: list[tuple[float, float]], a: float, b: float, c: float) -> list[tuple[float, float]]:
    """Sutherland–Hodgman: the part of a convex ring where a·x + b·y ≤ c."""
    out: list[tuple[float, float]] = []
    for k, p in enumerate(ring):
        q = ring[(k + 1) % len(ring)]
        fp, fq = a * p[0] + b * p[1] - c, a * q[0] + b * q[1] - c
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def _single_parts(cells: list[BaseGeometry]) -> list[Polygon]:
    """Every cell keeps its largest polygon; each other part joins the neighbouring cell that shares the
    longest border with it (float noise allowed: cells touch within _MERGE_EPS_KM)."""
    mains: list[BaseGeometry] = []
    orphans: list[tuple[int, Polygon]] = []
    for i, cell in enumerate(cells):
        parts = _polygons(cell)
        if not parts:
            raise RuntimeError("an empty cell")
        mains.append(parts[0])
        orphans.extend((i, part) for part in parts[1:])
    for owner, part in sorted(orphans, key=lambda item: (-item[1].area, item[0])):
        near = part.buffer(_MERGE_EPS_KM)
        shared = [
            (float(shapely.length(shapely.intersection(mains[j].boundary, near))), -j)
            for j in range(len(mains))
            if j != owner and shapely.dwithin(mains[j], part, _MERGE_EPS_KM)
        ]
        if not shared:
            raise RuntimeError("a detached piece of a cell touches no other cell")
        j = -max(shared)[1]
        merged = shapely.union(mains[j], part)
        if not isinstance(merged, Polygon):
            merged = shapely.union(mains[j], part, grid_size=_MERGE_EPS_KM / 1000)
        polygons = _polygons(merged)
        mains[j] = polygons[0]
    return [m if isinstance(m, Polygon) else _polygons(m)[0] for m in mains]


def _allocate(areas: FloatArray, total: int, minimum: int) -> npt.NDArray[np.int64]:
    """Largest-remainder apportionment of `total` in proportion to `areas`, at least `minimum` each."""
    quota = total * areas / areas.sum()
    counts = np.maximum(np.floor(quota).astype(np.int64), minimum)
    order = sorted(range(len(areas)), key=lambda i: (-(quota[i] - math.floor(quota[i])), i))
    k = 0
    while counts.sum() < total:
        counts[order[k % len(order)]] += 1
        k += 1
    surplus = sorted(range(len(areas)), key=lambda i: (-(counts[i] - quota[i]), i))
    k = 0
    while counts.sum() > total and k < len(surplus):
        if counts[surplus[k]] > minimum:
            counts[surplus[k]] -= 1
        k += 1
    return counts


def _reading_order(polygons: Sequence[BaseGeometry]) -> list[int]:
    """Indices in reading order of the centroids: rows (as tall as an average cell) north→south,
    west→east within a row."""
    if len(polygons) == 1:
        return [0]
    centroids = shapely.get_coordinates(shapely.centroid(np.asarray(polygons, dtype=object)))
    top = max(p.bounds[3] for p in polygons)
    # Latitude degrees and cos-scaled longitude degrees are close enough to square for row height.
    height = math.sqrt(sum(p.area for p in polygons) / len(polygons))
    rows = np.floor((top - centroids[:, 1]) / height)
    return sorted(range(len(polygons)), key=lambda i: (rows[i], centroids[i, 0], -centroids[i, 1], i))


# --- exact coverage ----------------------------------------------------------------------------------------


def _snap_coverage(raw: GeomArray, community_of: npt.NDArray[np.int64], outline: Polygon) -> list[Polygon]:
    """Node every grid boundary and the outline on the precision grid, polygonise, and give each face to
    the raw grid it lies in. Neighbours then share identical vertices and nothing overlaps."""
    lines = np.append(shapely.boundary(raw), outline.boundary)
    noded = shapely.union_all(lines, grid_size=GRID_SIZE)
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))), dtype=object)
    tree = shapely.STRtree(raw)
    face_index, grid_index = tree.query(shapely.point_on_surface(faces), predicate="within")
    hits = np.bincount(face_index, minlength=len(faces))
    owner = np.full(len(faces), -1, dtype=np.int64)
    unique = hits[face_index] == 1
    owner[face_index[unique]] = grid_index[unique]
    for orphan in np.flatnonzero(owner < 0):  # slivers of float noise: the grid that overlaps most
        near = faces[orphan].buffer(2 * GRID_SIZE)
        candidates = tree.query(near, predicate="intersects")
        if not len(candidates):
            raise RuntimeError("a face of the snapped coverage lies outside every grid")
        owner[orphan] = candidates[int(np.argmax(shapely.area(shapely.intersection(raw[candidates], near))))]
    pieces: dict[int, list[BaseGeometry]] = defaultdict(list)
    for face, grid_number in zip(faces, owner, strict=True):
        pieces[int(grid_number)].append(face)
    if len(pieces) != len(raw):
        raise RuntimeError("a grid lost all its area while snapping")
    grids: list[BaseGeometry] = [shapely.coverage_union_all(pieces[g]) for g in range(len(raw))]
    return _exact_single_parts(grids, community_of)


def _exact_single_parts(grids: list[BaseGeometry], community_of: npt.NDArray[np.int64]) -> list[Polygon]:
    """After snapping, a grid made of several pieces keeps the largest; each other piece joins the grid of
    the same community (else any grid) with which it shares the longest border. Shared borders are exact
    here (identical vertices), so their length is the length of the boundaries' intersection."""
    singles: list[Polygon] = []
    orphans: list[tuple[int, Polygon]] = []
    for g, grid in enumerate(grids):
        parts = _polygons(grid)
        singles.append(parts[0])
        orphans.extend((g, part) for part in parts[1:])
    for owner, part in sorted(orphans, key=lambda item: (-item[1].area, item[0])):
        touching = np.flatnonzero(shapely.intersects(np.asarray(singles, dtype=object), part))
        best: tuple[bool, float, int] | None = None
        for j in touching:
            if j == owner:
                continue
            length = float(shapely.length(shapely.intersection(singles[j].boundary, part.boundary)))
            key = (bool(community_of[j] == community_of[owner]), length, -int(j))
            if length > 0 and (best is None or key > best):
                best = key
        if best is None:
            raise RuntimeError("a detached piece of a grid touches no other grid")
        neighbour = -best[2]
        merged = shapely.coverage_union_all([singles[neighbour], part])
        if not isinstance(merged, Polygon):
            raise RuntimeError("a grid is not a single polygon after snapping")
        singles[neighbour] = merged
    return singles


def _unions(children: Sequence[Polygon], parent_of: npt.NDArray[np.int64], n: int, level: str) -> list[Polygon]:
    members: dict[int, list[Polygon]] = defaultdict(list)
    for child, parent in zip(children, parent_of, strict=True):
        members[int(parent)].append(child)
    out = []
    for p in range(n):
        union = shapely.coverage_union_all(members[p])
        if not isinstance(union, Polygon):
            raise RuntimeError(f"a synthetic {level} is not a single polygon")
        out.append(union)
    return out


def _canonical(polygon: Polygon) -> Polygon:
    """Normalised vertex order, exterior counter-clockwise (RFC 7946), on the precision grid."""
    snapped = shapely.set_precision(polygon, GRID_SIZE)
    oriented = shapely.orient_polygons(shapely.normalize(snapped), exterior_cw=False)
    if not isinstance(oriented, Polygon):
        raise RuntimeError("snapping collapsed a polygon")
    return oriented


def _verify(partition: SyntheticPartition) -> None:
    for level, geoms in (("town", partition.towns), ("community", partition.communities), ("grid", partition.grids)):
        for code, geom in geoms.items():
            if not isinstance(geom, Polygon) or geom.is_empty or not geom.is_valid:
                raise RuntimeError(f"synthetic {level} {code} is not a valid single polygon")
