"""Stamping: a hand-made layer with every awkward case, and a property test against a naive shapely loop."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.geo.stamping import OUTSIDE, GridIndex

#   y
#   2 +-----+-----+     +-----------+
#     | 103 | 104 |     |    105    |           108 is two unit squares, at x 7–8 and 9–10, y 0–1
#   1 +-----+-----+     |  +--+--+  |
#     | 101 | 102 |     |  |07|  |  |           107 fills the left half of 105's hole
#   0 +-----+-----+     +--+--+--+--+
#     0     1     2     3  4     5  6   x
LAYER = {
    "101": shapely.box(0, 0, 1, 1),
    "102": shapely.box(1, 0, 2, 1),
    "103": shapely.box(0, 1, 1, 2),
    "104": shapely.box(1, 1, 2, 2),
    "105": shapely.Polygon([(3, 0), (6, 0), (6, 2), (3, 2)], holes=[[(4, 0.5), (5, 0.5), (5, 1.5), (4, 1.5)]]),
    "107": shapely.box(4, 0.5, 4.5, 1.5),
    "108": shapely.MultiPolygon([shapely.box(7, 0, 8, 1), shapely.box(9, 0, 10, 1)]),
}

CASES = [
    ((0.5, 0.5), "101"),
    ((1.5, 0.5), "102"),
    ((0.5, 1.5), "103"),
    ((1.5, 1.5), "104"),
    ((3.5, 1.0), "105"),
    ((4.25, 1.0), "107"),  # in the part of the hole that 107 fills
    ((4.75, 1.0), None),  # in the empty part of the hole
    ((7.5, 0.5), "108"),
    ((9.5, 0.5), "108"),
    ((8.5, 0.5), None),  # between the parts of the multipolygon
    ((-1.0, -1.0), None),
    ((2.5, 1.0), None),  # in the gap between 102/104 and 105
    ((100.0, 100.0), None),
    # shared borders: the lowest code
    ((1.0, 0.5), "101"),  # 101 | 102
    ((1.0, 1.5), "103"),  # 103 | 104
    ((0.5, 1.0), "101"),  # 101 | 103
    ((1.5, 1.0), "102"),  # 102 | 104
    ((1.0, 1.0), "101"),  # the corner of all four
    ((4.0, 1.0), "105"),  # the hole's edge that 107 shares
    ((4.0, 0.5), "105"),  # a corner of the hole and of 107
    # outer borders of a single grid: that grid
    ((0.0, 0.5), "101"),
    ((2.0, 2.0), "104"),
    ((3.0, 1.0), "105"),
    ((4.5, 1.0), "107"),  # 107's edge facing the empty hole
    ((5.0, 1.0), "105"),  # the hole's edge facing nothing
    ((8.0, 1.0), "108"),
]


def build(order: list[str] | None = None, **kwargs: int) -> GridIndex[str]:
    codes = order or list(LAYER)
    return GridIndex([LAYER[code] for code in codes], codes, **kwargs)


@pytest.mark.parametrize("cells_per_grid", [1, 4, 256, 4096])
def test_hand_made_layer_in_bulk(cells_per_grid: int) -> None:
    index = build(cells_per_grid=cells_per_grid)
    xs = np.array([x for (x, _), _ in CASES])
    ys = np.array([y for (_, y), _ in CASES])
    found = index.lookup(xs, ys)
    assert found.dtype == np.intp
    assert index.keys_of(found) == [code for _, code in CASES]


@pytest.mark.parametrize(("point", "code"), CASES)
def test_hand_made_layer_one_at_a_time(point: tuple[float, float], code: str | None) -> None:
    index = build()
    assert index.lookup_one(*point) == code
    expected = OUTSIDE if code is None else index.keys.index(code)
    assert index.lookup_index_one(*point) == expected


def test_border_goes_to_the_lowest_code_whatever_the_order() -> None:
    shuffled = ["108", "104", "102", "107", "101", "105", "103"]
    index = build(shuffled)
    assert index.keys == tuple(shuffled)
    found = index.lookup([1.0, 1.0, 4.0], [1.0, 0.5, 1.0])
    assert index.keys_of(found) == ["101", "101", "105"]
    assert found.tolist() == [4, 4, 5]  # positions in the keys as given
    # and it is the code that decides, not the position
    renamed = GridIndex([LAYER["101"], LAYER["102"]], ["201", "200"])
    assert renamed.lookup_one(1.0, 0.5) == "200"


def test_integer_keys_compare_as_numbers() -> None:
    index = GridIndex([LAYER["101"], LAYER["102"]], [10, 9])
    assert index.lookup_one(1.0, 0.5) == 9
    assert index.lookup_one(0.5, 0.5) == 10


def test_overlapping_grids_give_the_lowest_code() -> None:
    index = GridIndex([shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)], ["b", "a"])
    assert index.keys_of(index.lookup([1.5, 0.5, 2.5], [1.5, 0.5, 2.5])) == ["a", "b", "a"]


def test_nan_infinite_and_empty_input() -> None:
    index = build()
    found = index.lookup([math.nan, 0.5, math.inf, 0.5, -math.inf], [0.5, math.nan, 0.5, 0.5, 0.5])
    assert index.keys_of(found) == [None, None, None, "101", None]
    assert index.lookup_one(math.nan, 0.5) is None
    assert index.lookup_one(0.5, math.inf) is None
    empty = index.lookup([], [])
    assert empty.shape == (0,) and empty.dtype == np.intp


def test_shape_is_kept() -> None:
    index = build()
    found = index.lookup([[0.5, 1.5], [9.5, 20.0]], [[0.5, 0.5], [0.5, 0.5]])
    assert found.shape == (2, 2)
    assert index.keys_of(found.ravel()) == ["101", "102", "108", None]
    with pytest.raises(ValueError, match="形状不一致"):
        index.lookup([0.5, 1.5], [0.5])


def test_empty_layer_and_empty_polygons() -> None:
    nothing = GridIndex([], [])
    assert nothing.lookup([0.5], [0.5]).tolist() == [OUTSIDE]
    assert nothing.lookup_one(0.5, 0.5) is None
    assert len(nothing) == 0
    only_empty = GridIndex([shapely.Polygon()], ["a"])
    assert only_empty.lookup_one(0.0, 0.0) is None
    mixed = GridIndex([shapely.Polygon(), LAYER["101"]], ["a", "b"])
    assert mixed.lookup_one(0.5, 0.5) == "b"
    assert mixed.lookup_one(0.0, 0.0) == "b"


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="不一致"):
        GridIndex([LAYER["101"]], ["a", "b"])
    with pytest.raises(ValueError, match="重复"):
        GridIndex([LAYER["101"], LAYER["102"]], ["a", "a"])
    with pytest.raises(ValueError, match="第 2 个网格不是面"):
        GridIndex([LAYER["101"], shapely.LineString([(0, 0), (1, 1)])], ["a", "b"])
    with pytest.raises(ValueError, match="不是面"):
        GridIndex([None], ["a"])
    mixed_keys: list[Any] = ["a", 1]
    with pytest.raises(ValueError, match="类型必须一致"):
        GridIndex([LAYER["101"], LAYER["102"]], mixed_keys)
    with pytest.raises(ValueError, match="cells_per_grid"):
        GridIndex([LAYER["101"]], ["a"], cells_per_grid=0)


def test_real_coordinates_and_tiny_grids() -> None:
    """Grids a few metres across at Panyu's longitude, next to one much bigger than the others."""
    small = [shapely.box(113.4 + i * 1e-4, 22.9, 113.4 + (i + 1) * 1e-4, 22.9001) for i in range(20)]
    big = shapely.box(113.4, 22.8, 113.6, 22.9)
    index = GridIndex([*small, big], [f"g{i:02d}" for i in range(21)])
    assert index.lookup_one(113.40015, 22.90005) == "g01"
    assert index.lookup_one(113.4001, 22.90005) == "g00"  # border of g00 and g01
    assert index.lookup_one(113.4001, 22.9) == "g00"  # corner of g00, g01 and the big one
    assert index.lookup_one(113.5, 22.85) == "g20"
    assert index.lookup_one(113.5, 22.9001) is None


# ----------------------------------------------------------------------------------- property test


def naive_lookup(polygons: list[shapely.Geometry], keys: list[str], x: float, y: float) -> str | None:
    """The obvious loop: strictly inside first, then on a border; the lowest key in each pass."""
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    point = shapely.Point(x, y)
    ordered = sorted(zip(keys, polygons, strict=True))
    for key, polygon in ordered:
        if polygon.contains(point):
            return key
    for key, polygon in ordered:
        if polygon.intersects(point):
            return key
    return None


def voronoi_layer(seed: int, cells: int, holes: int, fill_holes: bool) -> list[shapely.Geometry]:
    """A Voronoi partition of a Panyu-sized box, with `holes` small squares cut out of it (which makes holes,
    notches and multipolygons), each square then either left empty or added as a grid of its own."""
    rng = np.random.default_rng(seed)
    frame = shapely.box(113.2, 22.75, 113.65, 23.08)
    seeds = shapely.multipoints(np.column_stack((rng.uniform(113.2, 113.65, cells), rng.uniform(22.75, 23.08, cells))))
    polygons = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame)
    squares = [
        shapely.box(x, y, x + size, y + size)
        for x, y, size in zip(
            rng.uniform(113.2, 113.6, holes),
            rng.uniform(22.75, 23.03, holes),
            rng.uniform(0.005, 0.05, holes),
            strict=True,
        )
    ]
    for square in squares:
        polygons = shapely.difference(polygons, square)
    if fill_holes:
        polygons = np.concatenate((polygons, shapely.intersection(squares, frame)))
    return [geom for geom in polygons if not geom.is_empty]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    cells=st.integers(min_value=1, max_value=60),
    cells_per_grid=st.sampled_from([1, 8, 64, 256]),
    random_points=st.integers(min_value=0, max_value=300),
    holes=st.integers(min_value=0, max_value=3),
    fill_holes=st.booleans(),
)
def test_matches_a_naive_loop_on_a_voronoi_layer(
    seed: int, cells: int, cells_per_grid: int, random_points: int, holes: int, fill_holes: bool
) -> None:
    polygons = voronoi_layer(seed, cells, holes, fill_holes)
    rng = np.random.default_rng(seed + 1)
    keys = [f"{code:015d}" for code in rng.permutation(10**6)[: len(polygons)]]
    index = GridIndex(polygons, keys, cells_per_grid=cells_per_grid)
    vertices = shapely.get_coordinates(np.array(polygons, dtype=object))
    edge_middles = (vertices[1:] + vertices[:-1]) / 2.0  # on borders (up to rounding; both sides agree)
    scattered = np.column_stack((rng.uniform(113.15, 113.7, random_points), rng.uniform(22.7, 23.13, random_points)))
    points = np.concatenate((vertices, edge_middles, scattered, [[math.nan, 22.9], [113.4, math.nan]]))
    found = index.keys_of(index.lookup(points[:, 0], points[:, 1]))
    expected = [naive_lookup(polygons, keys, x, y) for x, y in points]
    assert found == expected
    assert [index.lookup_one(x, y) for x, y in points] == expected


def test_concurrent_lookups_agree() -> None:
    """One index shared by a threaded server: fresh index, four threads, the same answers as one thread."""
    polygons = voronoi_layer(5, 200, 2, True)
    keys = [f"{i:03d}" for i in range(len(polygons))]
    rng = np.random.default_rng(5)
    xs, ys = rng.uniform(113.15, 113.7, 20_000), rng.uniform(22.7, 23.13, 20_000)
    expected = GridIndex(polygons, keys).lookup(xs, ys)
    shared = GridIndex(voronoi_layer(5, 200, 2, True), keys)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: shared.lookup(xs, ys), range(8)))
    for result in results:
        np.testing.assert_array_equal(result, expected)
