"""Stamping: which grid of a layer version is a point (a house, an event) in.

`GridIndex` is built once per layer version from the grids' polygons and keys (grid codes, or integer ids)
and answers in bulk (`lookup`, vectorised, no shapely Point objects) or for one point (`lookup_one`).

Rules, the same on both paths:

- a point strictly inside a grid belongs to it;
- **a point on a shared border belongs to the grid with the lowest code** (the lowest key in the keys'
  natural order: strings compare as strings, which for fixed-length codes is numeric order), and a point on
  the outer border of a single grid belongs to that grid;
- in a layer with overlaps (which the publishing topology check forbids) a point inside several grids also
  belongs to the lowest key;
- a point in no grid, or with a NaN or infinite coordinate, is outside: -1 from `lookup`, None from
  `lookup_one`.

Grids are Polygons or MultiPolygons, holes allowed, and must be valid (the topology check ensures it).

How it is fast. The layer's extent is cut into a regular raster of cells, about `cells_per_grid` per grid.
At build time each cell is classified from the grid boundaries, densified to samples at most a quarter cell
apart: each sample marks every cell whose box, widened by half that spacing (and a rounding margin), holds
it. Every boundary point is that close to a sample, so a cell that is not marked is touched by no boundary:

- an unmarked cell lies in the interior of the grid that contains its centre, or of none: its points are
  stamped by one array look-up, with no geometry test;
- a marked cell keeps a short list of candidate grids (those whose boundary touches it, plus any containing
  its centre), lowest key first; its points are tested with shapely's `contains_xy` (prepared, elementwise,
  one call for all point-candidate pairs), and those still unassigned with `intersects_xy`, which finds
  the border points. The first hit in key order wins.

Points are processed in slices, so memory stays bounded whatever the input size. The polygons are prepared
in place (`shapely.prepare`), and the constructor makes GEOS build its lazily created point-location
structures, so lookups never modify anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, Generic, TypeVar, cast

import numpy as np
import numpy.typing as npt
import shapely

IndexArray = npt.NDArray[np.intp]
IntArray = npt.NDArray[np.integer[Any]]
FloatArray = npt.NDArray[np.float64]

OUTSIDE: Final = -1
K = TypeVar("K", str, int)

_POLYGON: Final = 3
_MULTIPOLYGON: Final = 6
# Bounds on the raster: at most this many cells (owner table and candidate offsets are 4 bytes a cell).
_MAX_CELLS: Final = 1 << 22
# Points handled per slice in `lookup`, and point-cell pairs per slice while building.
_POINT_SLICE: Final = 1 << 18
_PAIR_SLICE: Final = 1 << 21


class GridIndex(Generic[K]):
    """A point-in-grid index over one layer version. Immutable once built."""

    def __init__(
        self,
        geometries: Sequence[shapely.Polygon | shapely.MultiPolygon] | npt.NDArray[np.object_],
        keys: Sequence[K],
        *,
        cells_per_grid: int = 256,
    ) -> None:
        geoms = np.empty(len(geometries), dtype=object)
        geoms[:] = list(geometries)
        if len(keys) != geoms.size:
            raise ValueError(f"网格数（{geoms.size}）与编码数（{len(keys)}）不一致")
        if len(set(keys)) != len(keys):
            raise ValueError("网格编码有重复")
        if cells_per_grid < 1:
            raise ValueError("cells_per_grid 必须为正数")
        types = shapely.get_type_id(geoms)
        bad = np.flatnonzero((types != _POLYGON) & (types != _MULTIPOLYGON))
        if bad.size:
            raise ValueError(f"第 {int(bad[0]) + 1} 个网格不是面（Polygon 或 MultiPolygon）")
        self._keys: tuple[K, ...] = tuple(keys)
        try:
            order = sorted(range(len(self._keys)), key=self._keys.__getitem__)
        except TypeError:
            raise ValueError("网格编码的类型必须一致（全为字符串或全为整数）") from None
        # Internally grids are numbered by rank (position in key order), so "lowest key" is "lowest rank".
        self._rank_to_index: IndexArray = np.asarray(order, dtype=np.intp)
        self._polys = geoms[self._rank_to_index]
        shapely.prepare(self._polys)
        self._build(cells_per_grid)

    # ----------------------------------------------------------------------------------------- build

    def _build(self, cells_per_grid: int) -> None:
        live = np.flatnonzero(~shapely.is_empty(self._polys))
        bounds = shapely.bounds(self._polys[live])
        self._owner = np.full(1, OUTSIDE, dtype=np.int32)
        self._offsets = np.zeros(2, dtype=np.int32)
        self._candidates = np.zeros(0, dtype=np.int32)
        self._origin = (0.0, 0.0)
        self._inv_cell = 1.0
        self._nx = self._ny = 0
        if live.size == 0:
            return
        # GEOS builds a prepared polygon's point-location structures on the first test inside its envelope:
        # build them now, so that lookups (from any number of threads) only read.
        centre_x, centre_y = (bounds[:, 0] + bounds[:, 2]) / 2.0, (bounds[:, 1] + bounds[:, 3]) / 2.0
        shapely.contains_xy(self._polys[live], centre_x, centre_y)
        shapely.intersects_xy(self._polys[live], centre_x, centre_y)
        xmin, ymin = bounds[:, 0].min(), bounds[:, 1].min()
        xmax, ymax = bounds[:, 2].max(), bounds[:, 3].max()
        width, height = xmax - xmin, ymax - ymin
        target = min(cells_per_grid * live.size, _MAX_CELLS // 2)
        cell = max(math.sqrt(width * height / target), max(width, height) / target, 1e-9)
        while (math.floor(width / cell) + 2) * (math.floor(height / cell) + 2) > _MAX_CELLS:
            cell *= 1.25
        # Half a cell of margin on every side: every grid point is strictly inside the raster.
        self._origin = (xmin - cell / 2.0, ymin - cell / 2.0)
        self._inv_cell = 1.0 / cell
        self._nx = math.floor(width / cell) + 2
        self._ny = math.floor(height / cell) + 2
        ncells = self._nx * self._ny

        nranks = np.int64(self._polys.size)
        marks = self._boundary_marks(live, cell, nranks)
        centre_cells, centre_ranks = self._centre_hits(live, bounds, cell)

        mixed = np.zeros(ncells, dtype=bool)
        mixed[marks // nranks] = True
        clean = ~mixed[centre_cells]
        owner_rank = np.full(ncells, np.iinfo(np.int32).max, dtype=np.int32)
        np.minimum.at(owner_rank, centre_cells[clean], centre_ranks[clean].astype(np.int32))
        owned = owner_rank != np.iinfo(np.int32).max
        self._owner = np.full(ncells, OUTSIDE, dtype=np.int32)
        self._owner[owned] = self._rank_to_index[owner_rank[owned]]

        # Candidates of marked cells, sorted by cell and then by rank (lowest key first).
        pairs = np.concatenate((marks, centre_cells[~clean] * nranks + centre_ranks[~clean]))
        pairs.sort()
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
        self._candidates = (pairs % nranks).astype(np.int32)
        counts = np.bincount(pairs // nranks, minlength=ncells)
        self._offsets = np.zeros(ncells + 1, dtype=np.int32)
        np.cumsum(counts, out=self._offsets[1:])

    def _boundary_marks(self, live: IndexArray, cell: float, nranks: np.int64) -> npt.NDArray[np.int64]:
        """cell × nranks + rank for every cell a grid's boundary passes through or touches (conservatively:
        a few cells near a boundary are included too, which costs a little time and nothing else)."""
        spacing = cell / 4.0
        boundaries = shapely.segmentize(shapely.boundary(self._polys[live]), spacing)
        coords, part = shapely.get_coordinates(boundaries, return_index=True)
        ranks = live[part].astype(np.int64)
        # Every boundary point is within spacing/2 of a sample; mark the cells whose box widened by that
        # distance (plus a margin for rounding) holds the sample. Since reach < cell, that is at most 2×2 cells.
        reach = spacing / 2.0 + cell / 1000.0
        ox, oy = self._origin
        inv = self._inv_cell
        ix = [np.floor((coords[:, 0] + d - ox) * inv).astype(np.int64) for d in (-reach, reach)]
        iy = [np.floor((coords[:, 1] + d - oy) * inv).astype(np.int64) for d in (-reach, reach)]
        marks = []
        for x in ix:
            for y in iy:
                key = (y * self._nx + x) * nranks + ranks
                # Samples follow the rings, so most repeats are next to each other: drop those before sorting.
                marks.append(key[np.concatenate(([True], key[1:] != key[:-1]))])
        return np.concatenate(marks)

    def _centre_hits(
        self, live: IndexArray, bounds: FloatArray, cell: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(cell, rank) for every cell whose centre is strictly inside a grid."""
        ox, oy = self._origin
        inv = self._inv_cell
        ix0 = np.floor((bounds[:, 0] - ox) * inv).astype(np.int64)
        iy0 = np.floor((bounds[:, 1] - oy) * inv).astype(np.int64)
        nx = np.floor((bounds[:, 2] - ox) * inv).astype(np.int64) - ix0 + 1
        ny = np.floor((bounds[:, 3] - oy) * inv).astype(np.int64) - iy0 + 1
        sizes = nx * ny
        ends = np.cumsum(sizes)
        found_cells: list[npt.NDArray[np.int64]] = []
        found_ranks: list[npt.NDArray[np.int64]] = []
        first = 0
        while first < live.size:
            # A slice of grids whose bounding boxes hold about _PAIR_SLICE cells (at least one grid).
            done = ends[first - 1] if first else 0
            last = max(int(np.searchsorted(ends, done + _PAIR_SLICE, side="right")), first + 1)
            grid = np.repeat(np.arange(first, last), sizes[first:last])
            local = np.arange(grid.size) - np.repeat(ends[first:last] - sizes[first:last] - done, sizes[first:last])
            cx = ix0[grid] + local % nx[grid]
            cy = iy0[grid] + local // nx[grid]
            inside = shapely.contains_xy(self._polys[live[grid]], ox + (cx + 0.5) * cell, oy + (cy + 0.5) * cell)
            found_cells.append((cy * self._nx + cx)[inside])
            found_ranks.append(live[grid[inside]].astype(np.int64))
            first = last
        return np.concatenate(found_cells), np.concatenate(found_ranks)

    # ---------------------------------------------------------------------------------------- lookup

    @property
    def keys(self) -> tuple[K, ...]:
        return self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, xs: npt.ArrayLike, ys: npt.ArrayLike) -> IndexArray:
        """For each point, the position of its grid in `keys`, or -1 (OUTSIDE). Same shape as the input."""
        x = np.asarray(xs, dtype=np.float64)
        y = np.asarray(ys, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError(f"x 与 y 的形状不一致：{x.shape} 与 {y.shape}")
        shape = x.shape
        x, y = x.reshape(-1), y.reshape(-1)
        result = np.full(x.size, OUTSIDE, dtype=np.intp)
        if self._nx:
            for start in range(0, x.size, _POINT_SLICE):
                stop = start + _POINT_SLICE
                result[start:stop] = self._lookup_slice(x[start:stop], y[start:stop])
        return result.reshape(shape)

    def _lookup_slice(self, x: FloatArray, y: FloatArray) -> IndexArray:
        out = np.full(x.size, OUTSIDE, dtype=np.intp)
        ox, oy = self._origin
        fx = (x - ox) * self._inv_cell
        fy = (y - oy) * self._inv_cell
        in_raster = (fx >= 0.0) & (fx < self._nx) & (fy >= 0.0) & (fy < self._ny)  # NaN → False
        if in_raster.all():
            points = None
        else:
            points = np.flatnonzero(in_raster)
            x, y, fx, fy = x[points], y[points], fx[points], fy[points]
        cells = fy.astype(np.int64) * self._nx + fx.astype(np.int64)
        found = self._owner[cells].astype(np.intp)
        # Points in cells that a boundary touches: test the cell's candidates.
        starts = self._offsets[cells]
        counts = self._offsets[cells + 1] - starts
        todo = np.flatnonzero(counts > 0)
        if todo.size:
            found[todo] = self._test_candidates(x[todo], y[todo], starts[todo], counts[todo])
        if points is None:
            return found
        out[points] = found
        return out

    def _test_candidates(
        self, x: FloatArray, y: FloatArray, starts: npt.NDArray[np.int32], counts: npt.NDArray[np.int32]
    ) -> IndexArray:
        """Index of the grid each point is in (strictly inside first, then on a border), or -1."""
        pair_point = np.repeat(np.arange(x.size), counts)
        first_pair = np.cumsum(counts) - counts
        pair_rank = self._candidates[np.arange(pair_point.size) - np.repeat(first_pair - starts, counts)]
        found_rank = np.full(x.size, OUTSIDE, dtype=np.intp)
        hit = shapely.contains_xy(self._polys[pair_rank], x[pair_point], y[pair_point])
        _take_first_hit(found_rank, pair_point, pair_rank, hit)
        left = found_rank[pair_point] == OUTSIDE
        if left.any():
            pair_point, pair_rank = pair_point[left], pair_rank[left]
            hit = shapely.intersects_xy(self._polys[pair_rank], x[pair_point], y[pair_point])
            _take_first_hit(found_rank, pair_point, pair_rank, hit)
        found = np.full(x.size, OUTSIDE, dtype=np.intp)
        assigned = found_rank != OUTSIDE
        found[assigned] = self._rank_to_index[found_rank[assigned]]
        return found

    def lookup_one(self, x: float, y: float) -> K | None:
        """The key of the grid the point is in, or None. Plain floats, no arrays: a few microseconds."""
        index = self.lookup_index_one(x, y)
        return None if index == OUTSIDE else self._keys[index]

    def lookup_index_one(self, x: float, y: float) -> int:
        """`lookup` for one point: the position of its grid in `keys`, or -1."""
        if not self._nx:
            return OUTSIDE
        ox, oy = self._origin
        fx = (x - ox) * self._inv_cell
        fy = (y - oy) * self._inv_cell
        if not (0.0 <= fx < self._nx and 0.0 <= fy < self._ny):  # also NaN
            return OUTSIDE
        cell = int(fy) * self._nx + int(fx)
        start, stop = int(self._offsets[cell]), int(self._offsets[cell + 1])
        if start == stop:
            return int(self._owner[cell])
        ranks = [int(rank) for rank in self._candidates[start:stop]]
        for predicate in (shapely.contains_xy, shapely.intersects_xy):
            for rank in ranks:
                if predicate(self._polys[rank], x, y):
                    return int(self._rank_to_index[rank])
        return OUTSIDE

    def keys_of(self, indices: npt.ArrayLike) -> list[K | None]:
        """Keys for the positions `lookup` returned (None for -1)."""
        return [None if i == OUTSIDE else self._keys[i] for i in cast(list[int], np.asarray(indices).tolist())]


def _take_first_hit(found: IndexArray, pair_point: IntArray, pair_rank: IntArray, hit: npt.NDArray[np.bool_]) -> None:
    """Pairs are grouped by point with ranks ascending: each point's first hit is its lowest-key grid."""
    hits = np.flatnonzero(hit)
    if hits.size == 0:
        return
    points = pair_point[hits]
    first = np.ones(hits.size, dtype=bool)
    first[1:] = points[1:] != points[:-1]
    found[points[first]] = pair_rank[hits[first]]
