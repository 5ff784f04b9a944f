"""The synthetic demo partition (NOT official boundaries): counts, a valid gap-free and overlap-free
coverage at every level, code layout, determinism, and the loader of the shipped inputs. No database."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import numpy.typing as npt
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, box

from civicgrid.geo.codes import CodeLayout
from civicgrid.geo.synthetic import (
    GRID_SIZE,
    SYNTHETIC_NOTICE,
    SyntheticPartition,
    load_panyu_inputs,
    parse_divisions,
    parse_outline,
    synthetic_partition,
)

SEED = 20261125
TOLERANCE_M2 = 1.0
_TO_4547 = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)


def projected(geoms: list[Polygon] | Polygon) -> npt.NDArray[np.object_]:
    """Lon/lat → CGCS2000 Gauss-Kruger CM 114E metres (x = easting with always_xy)."""
    array = np.asarray(geoms if isinstance(geoms, list) else [geoms], dtype=object)
    return shapely.transform(array, lambda xy: np.column_stack(_TO_4547.transform(xy[:, 0], xy[:, 1])))


def wkb(partition: SyntheticPartition) -> list[tuple[str, bytes]]:
    return [
        (code, shapely.to_wkb(geom))
        for level in (partition.towns, partition.communities, partition.grids)
        for code, geom in level.items()
    ]


@pytest.fixture(scope="module")
def inputs() -> tuple[Polygon | MultiPolygon, list[tuple[str, list[str]]]]:
    return load_panyu_inputs()


@pytest.fixture(scope="module")
def partition(inputs: tuple[Polygon | MultiPolygon, list[tuple[str, list[str]]]]) -> SyntheticPartition:
    outline, towns = inputs
    return synthetic_partition(outline=outline, towns=towns, grids_total=3000, seed=SEED)


def test_loader_reads_the_shipped_panyu_files(inputs: tuple[Polygon | MultiPolygon, list]) -> None:
    outline, towns = inputs
    assert outline.is_valid and 113.2 < outline.centroid.x < 113.6 and 22.8 < outline.centroid.y < 23.1
    assert len(towns) == 16
    assert sum(len(members) for _, members in towns) == 276
    assert ("440113007000", towns[0][1]) == towns[0] and len(towns[0][1]) == 36  # 市桥街道
    assert all(code.startswith(town[:9]) for town, members in towns for code in members)
    assert "440113120500" in dict(towns)["440113120000"]  # the statistics list's placeholder unit counts too


def test_parse_divisions_handles_crlf_and_bom() -> None:
    text = (
        "\ufeffcode,name,level,parent_code\r\n440113000000,番禺区,district,440100000000\r\n"
        "440113102000,B镇,town,440113000000\r\n440113007000,A街道,street,440113000000\r\n"
        "440113102201,村,village,440113102000\r\n440113007003,社区,community,440113007000\r\n"
        "440113007001,社区,community,440113007000\r\n"
    )
    assert parse_divisions(text) == [
        ("440113007000", ["440113007001", "440113007003"]),
        ("440113102000", ["440113102201"]),
    ]
    with pytest.raises(ValueError, match="parent"):
        parse_divisions("code,name,level,parent_code\n440113007001,x,community,440113999000\n")


def test_parse_outline_accepts_geometry_feature_and_collection() -> None:
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    feature = {"type": "Feature", "geometry": square, "properties": {}}
    collection = {"type": "FeatureCollection", "features": [feature]}
    for document in (square, feature, collection):
        assert parse_outline(json.dumps(document)).equals(box(0, 0, 1, 1))
    with pytest.raises(ValueError, match="no geometry"):
        parse_outline(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(ValueError, match="not a polygon"):
        parse_outline(json.dumps({"type": "Point", "coordinates": [0, 0]}))


def test_counts(partition: SyntheticPartition, inputs: tuple[Polygon | MultiPolygon, list]) -> None:
    _, towns = inputs
    assert list(partition.towns) == [code for code, _ in towns]
    assert list(partition.communities) == [code for _, members in towns for code in members]
    assert len(partition.towns) == 16
    assert len(partition.communities) == 276
    assert abs(len(partition.grids) - 3000) <= 150
    per_community = Counter(partition.grid_community.values())
    assert set(per_community) == set(partition.communities)
    assert min(per_community.values()) >= 3
    expected_town = {code: town for town, members in towns for code in members}
    assert partition.community_town == expected_town


def test_every_polygon_is_a_valid_single_polygon_on_the_precision_grid(partition: SyntheticPartition) -> None:
    for level in (partition.towns, partition.communities, partition.grids):
        geoms = np.asarray(list(level.values()), dtype=object)
        assert all(type(g) is Polygon for g in geoms)
        assert shapely.is_valid(geoms).all()
        assert not shapely.is_empty(geoms).any()
        # Snapping again changes nothing: every vertex already sits on the 1e-7° grid.
        resnapped = shapely.set_precision(geoms, GRID_SIZE)
        assert shapely.equals_exact(geoms, resnapped, tolerance=0).all()


def test_levels_are_exact_coverages(partition: SyntheticPartition) -> None:
    """No overlaps and matching vertices on every shared edge (GEOS coverage validation, zero tolerance)."""
    for level in (partition.towns, partition.communities, partition.grids):
        assert shapely.coverage_is_valid(np.asarray(list(level.values()), dtype=object))


def test_grids_of_a_community_make_up_the_community(partition: SyntheticPartition) -> None:
    members: dict[str, list[Polygon]] = {}
    for code, community in partition.grid_community.items():
        members.setdefault(community, []).append(partition.grids[code])
    for community, grids in members.items():
        union = shapely.union_all(grids)
        difference = shapely.symmetric_difference(*projected([union, partition.communities[community]]))
        assert shapely.area(difference) < TOLERANCE_M2, community
        outside = shapely.difference(projected(grids), projected(partition.communities[community])[0])
        assert (shapely.area(outside) < TOLERANCE_M2).all(), community


def test_communities_make_up_their_town(partition: SyntheticPartition) -> None:
    members: dict[str, list[Polygon]] = {}
    for community, town in partition.community_town.items():
        members.setdefault(town, []).append(partition.communities[community])
    for town, communities in members.items():
        union = shapely.union_all(communities)
        difference = shapely.symmetric_difference(*projected([union, partition.towns[town]]))
        assert shapely.area(difference) < TOLERANCE_M2, town


def test_no_two_grids_overlap(partition: SyntheticPartition) -> None:
    geoms = projected(list(partition.grids.values()))
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    assert pairs.sum() > len(geoms)  # neighbours touch: the check really saw candidate pairs
    overlaps = shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]]))
    assert overlaps.max() < TOLERANCE_M2


def test_towns_cover_the_outline(partition: SyntheticPartition, inputs: tuple[Polygon | MultiPolygon, list]) -> None:
    outline, _ = inputs
    towns = shapely.union_all(list(partition.towns.values()))
    outline_m, towns_m = projected([outline.geoms[0] if isinstance(outline, MultiPolygon) else outline, towns])
    assert abs(towns_m.area - outline_m.area) / outline_m.area < 1e-4
    assert shapely.symmetric_difference(towns_m, outline_m).area / outline_m.area < 1e-4


def test_town_areas_follow_their_number_of_communities(
    partition: SyntheticPartition, inputs: tuple[Polygon | MultiPolygon, list]
) -> None:
    _, towns = inputs
    areas = shapely.area(projected(list(partition.towns.values())))
    weights = np.array([len(members) for _, members in towns], dtype=float)
    target = weights / weights.sum() * areas.sum()
    assert np.abs(areas / target - 1).max() < 0.15


def test_grid_sizes_are_plausible(partition: SyntheticPartition) -> None:
    geoms = projected(list(partition.grids.values()))
    areas = shapely.area(geoms)
    compactness = 4 * np.pi * areas / shapely.length(geoms) ** 2
    assert areas.min() > 200  # far above the topology check's sliver threshold (m²)
    assert areas.max() / areas.min() < 10
    assert compactness.min() > 0.3  # no needles


def test_grid_codes_follow_the_layout(partition: SyntheticPartition) -> None:
    assert len(set(partition.grids)) == len(partition.grids)
    assert list(partition.grids) == sorted(partition.grids)
    by_community: dict[str, list[int]] = {}
    for code, community in partition.grid_community.items():
        assert re.fullmatch(rf"{community}\d{{3}}", code), code
        by_community.setdefault(community, []).append(int(code[12:]))
    for sequences in by_community.values():
        assert sorted(sequences) == list(range(1, len(sequences) + 1))  # 001, 002, … without holes


def test_grid_numbering_runs_north_to_south(partition: SyntheticPartition) -> None:
    """Reading order: the first grid of a community lies in its northern half, the last in its southern."""
    first = {c: code for code, c in reversed(partition.grid_community.items())}
    last = {c: code for code, c in partition.grid_community.items()}
    for community, polygon in partition.communities.items():
        middle = polygon.centroid.y
        assert partition.grids[first[community]].centroid.y > partition.grids[last[community]].centroid.y
        assert partition.grids[first[community]].centroid.y > middle - 0.002


def test_same_seed_gives_identical_wkb(
    partition: SyntheticPartition, inputs: tuple[Polygon | MultiPolygon, list]
) -> None:
    outline, towns = inputs
    again = synthetic_partition(outline=outline, towns=towns, grids_total=3000, seed=SEED)
    assert wkb(again) == wkb(partition)
    assert again.grid_community == partition.grid_community


def test_a_small_input_other_seed_and_layout() -> None:
    outline = Polygon([(113.0, 23.0), (113.05, 23.0), (113.05, 23.03), (113.02, 23.02), (113.0, 23.03)])
    towns = [("T1", ["C11", "C12"]), ("T2", ["C21"]), ("T3", ["C31", "C32", "C33"])]
    one = synthetic_partition(outline=outline, towns=towns, grids_total=40, seed=1, layout=CodeLayout(4))
    other = synthetic_partition(outline=outline, towns=towns, grids_total=40, seed=2, layout=CodeLayout(4))
    assert len(one.grids) == 40 and len(one.communities) == 6 and len(one.towns) == 3
    assert "C210001" in one.grids and one.grid_community["C210001"] == "C21"
    assert wkb(one) != wkb(other)
    assert shapely.coverage_is_valid(np.asarray(list(one.grids.values()), dtype=object))
    assert abs(shapely.union_all(list(one.towns.values())).area - outline.area) < 1e-9


def test_invalid_inputs_are_refused() -> None:
    outline = box(113.0, 23.0, 113.05, 23.03)
    with pytest.raises(ValueError, match="at least 3"):
        synthetic_partition(outline=outline, towns=[("T", ["C1", "C2"])], grids_total=5)
    with pytest.raises(ValueError, match="at least one community"):
        synthetic_partition(outline=outline, towns=[("T", [])])
    with pytest.raises(ValueError, match="unique"):
        synthetic_partition(outline=outline, towns=[("T", ["C1"]), ("U", ["C1"])], grids_total=6)
    islands = MultiPolygon([box(113.0, 23.0, 113.01, 23.01), box(113.02, 23.0, 113.03, 23.01)])
    with pytest.raises(ValueError, match="one polygon"):
        synthetic_partition(outline=islands, towns=[("T", ["C1"])], grids_total=3)


def test_geojson_export_is_labelled_synthetic(partition: SyntheticPartition) -> None:
    collection = partition.feature_collection("grid")
    assert collection["synthetic"] is True and collection["notice"] == SYNTHETIC_NOTICE
    assert "非官方" in SYNTHETIC_NOTICE and "not official" in SYNTHETIC_NOTICE
    assert len(collection["features"]) == len(partition.grids)
    first = collection["features"][0]
    assert first["properties"]["synthetic"] is True
    assert first["properties"]["parent_code"] == partition.grid_community[first["properties"]["code"]]
    assert partition.feature_collection("town")["features"][0]["properties"]["parent_code"] is None
    with pytest.raises(ValueError):
        partition.feature_collection("district")


# --- the repair paths, which the Panyu run rarely needs -----------------------------------------------------


def test_a_cell_split_by_a_concave_parent_gives_its_smaller_part_to_the_neighbour() -> None:
    from civicgrid.geo.synthetic import _single_parts

    parent = shapely.difference(box(0, 0, 4, 3), box(1, 1, 2, 3))  # a U with a narrow and a wide prong
    top, bottom = shapely.intersection(box(0, 2, 4, 3), parent), shapely.intersection(box(0, 0, 4, 2), parent)
    assert isinstance(top, MultiPolygon)
    kept_top, grown_bottom = _single_parts([top, bottom])
    assert kept_top.equals(box(2, 2, 4, 3))  # the larger piece stays
    assert grown_bottom.equals(shapely.difference(parent, box(2, 2, 4, 3)))  # the narrow prong's top joins
    assert isinstance(grown_bottom, Polygon)


def test_snapping_closes_gaps_and_overlaps_between_raw_grids() -> None:
    from civicgrid.geo.synthetic import _snap_coverage

    outline = box(0, 0, 3, 1)
    gap = [box(0, 0, 1, 1), box(1 + 1e-6, 0, 2, 1), box(2, 0, 3, 1)]  # a 1e-6 gap …
    overlap = [box(0, 0, 1 + 1e-6, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)]  # … and a 1e-6 overlap
    for raw in (gap, overlap):
        grids = _snap_coverage(np.asarray(raw, dtype=object), np.zeros(3, dtype=np.int64), outline)
        assert all(type(g) is Polygon and g.is_valid for g in grids)
        assert shapely.coverage_is_valid(np.asarray(grids, dtype=object))
        assert shapely.union_all(grids).equals(outline)


def test_a_grid_cut_in_two_keeps_one_piece_and_hands_the_other_to_its_neighbour() -> None:
    from civicgrid.geo.synthetic import _snap_coverage

    wide, tall = box(0, 0, 3, 1), box(1, -1, 2, 2)  # `tall` wins the middle and cuts `wide` in two
    outline = shapely.union(wide, tall)
    grids = _snap_coverage(np.asarray([wide, tall], dtype=object), np.zeros(2, dtype=np.int64), outline)
    assert all(type(g) is Polygon for g in grids)
    assert {round(g.area, 9) for g in grids} == {1.0, 4.0}
    assert shapely.coverage_is_valid(np.asarray(grids, dtype=object))
    assert shapely.union_all(grids).equals(outline)
