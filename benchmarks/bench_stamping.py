"""Stamping benchmark (docs/benchmarks.md): 1,000,000 points against a ~3,000-grid layer.

    .venv/bin/python benchmarks/bench_stamping.py [--points 1000000] [--grids 3000] [--naive-sample 2000]

The layer is synthetic and deterministic: the Voronoi cells of `--grids` seeded random points in a box the
size of Panyu (lon 113.2–113.65, lat 22.75–23.08), clipped to the box. The points are uniform over the box
widened by 0.01° on each side, so about 10% fall outside every grid.

Measured in the same run: `GridIndex.lookup` (best of `--repeat` runs after one cold run), the naive
baseline (for each point, shapely.contains_xy on every polygon in code order until one holds it, then
intersects_xy for border points; the same prepared polygons) on the first `--naive-sample` points,
extrapolated per point, and for information an STRtree query over shapely Point objects (pairs only,
without the border rule). Prints a table and exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely

from civicgrid.geo.stamping import OUTSIDE, GridIndex

RATE_TARGET = 1_500_000  # points per second
SPEEDUP_TARGET = 100.0  # × the naive loop
BOX = (113.2, 22.75, 113.65, 23.08)
SEED = 20260101


def build_layer(grids: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(SEED)
    xmin, ymin, xmax, ymax = BOX
    frame = shapely.box(*BOX)
    seeds = np.column_stack((rng.uniform(xmin, xmax, grids), rng.uniform(ymin, ymax, grids)))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    polygons = shapely.intersection(cells, frame)
    # 15-digit codes (community + sequence), in a shuffled order so that "lowest code" is not "first polygon".
    codes = [f"440113{code:09d}" for code in rng.permutation(len(polygons))]
    return polygons, codes


def make_points(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED + 1)
    xmin, ymin, xmax, ymax = BOX
    return rng.uniform(xmin - 0.01, xmax + 0.01, n), rng.uniform(ymin - 0.01, ymax + 0.01, n)


def naive_lookup(polygons: list[Any], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """`polygons` as (position, polygon) in code order."""
    found = np.full(xs.size, OUTSIDE, dtype=np.intp)
    for i, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True)):
        for position, polygon in polygons:
            if shapely.contains_xy(polygon, x, y):
                found[i] = position
                break
        else:
            for position, polygon in polygons:
                if shapely.intersects_xy(polygon, x, y):
                    found[i] = position
                    break
    return found


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=3000)
    parser.add_argument("--naive-sample", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-strtree", action="store_true", help="skip the informational STRtree row")
    args = parser.parse_args()

    polygons, codes = build_layer(args.grids)
    xs, ys = make_points(args.points)
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, shapely {shapely.__version__} (GEOS {shapely.geos_version_string})"
    )
    print(f"layer: {len(polygons)} grids, {int(shapely.get_num_coordinates(polygons).sum())} vertices")

    build_time = best_of(3, lambda: GridIndex(polygons, codes))
    index = GridIndex(polygons, codes)

    start = time.perf_counter()
    found = index.lookup(xs, ys)
    cold = time.perf_counter() - start
    warm = best_of(args.repeat, lambda: index.lookup(xs, ys))
    outside = float(np.mean(found == OUTSIDE))

    tracemalloc.start()
    index.lookup(xs, ys)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    sample = min(args.naive_sample, args.points)
    ordered = sorted(((codes[i], i, polygon) for i, polygon in enumerate(polygons)), key=lambda item: item[0])
    by_code = [(position, polygon) for _, position, polygon in ordered]
    start = time.perf_counter()
    naive = naive_lookup(by_code, xs[:sample], ys[:sample])
    naive_time = time.perf_counter() - start
    mismatches = int(np.count_nonzero(naive != found[:sample]))

    rate = args.points / warm
    naive_rate = sample / naive_time
    speedup = rate / naive_rate
    rows = [
        ("GridIndex build (best of 3)", len(polygons), build_time, None),
        ("GridIndex.lookup, cold (first call)", args.points, cold, args.points / cold),
        (f"GridIndex.lookup, best of {args.repeat}", args.points, warm, rate),
        (f"naive loop on {sample} points (baseline)", sample, naive_time, naive_rate),
    ]
    if not args.no_strtree:
        tree = shapely.STRtree(polygons)

        def strtree_query() -> None:
            tree.query(shapely.points(xs, ys), predicate="intersects")

        strtree_time = best_of(max(1, args.repeat // 2), strtree_query)
        rows.append(("STRtree.query on Point objects (info)", args.points, strtree_time, args.points / strtree_time))

    print()
    print("| path | items | seconds | points/s |")
    print("|---|---:|---:|---:|")
    for label, items, seconds, per_second in rows:
        shown = f"{per_second:,.0f}" if per_second is not None else "—"
        print(f"| {label} | {items:,} | {seconds:.3f} | {shown} |")
    print()
    print(f"speed-up over the naive loop (extrapolated per point): {speedup:,.0f}×")
    print(f"points outside every grid: {outside:.1%}; naive and indexed disagree on {mismatches} of {sample}")
    print(f"peak traced memory during one lookup (numpy + Python, not GEOS): {peak / 2**20:.1f} MiB")
    print(f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    failures = []
    if rate < RATE_TARGET:
        failures.append(f"rate {rate:,.0f}/s below the target {RATE_TARGET:,}/s")
    if speedup < SPEEDUP_TARGET:
        failures.append(f"speed-up {speedup:.0f}× below the target {SPEEDUP_TARGET:.0f}×")
    if mismatches:
        failures.append(f"{mismatches} results differ from the naive loop")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    if not failures:
        print(f"targets met: ≥{RATE_TARGET:,} points/s and ≥{SPEEDUP_TARGET:.0f}× the naive loop")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
