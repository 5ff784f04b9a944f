"""Coordinate conversion benchmark (docs/benchmarks.md): 1,000,000 points.

    .venv/bin/python benchmarks/bench_crs.py [--points 1000000] [--scalar-sample 50000]

Points are seeded uniform random over Panyu (lon 113.2–113.65, lat 22.75–23.08). For each conversion the
vectorised `crs.transform` (best of `--repeat` runs) is measured against the baseline in the same run: a
per-point Python loop over `crs.transform_point` (plain floats and `math`, or pyproj's scalar call for
EPSG:4547) on the first `--scalar-sample` points, extrapolated per point. The two must agree to 1e-9° (1 mm
for EPSG:4547). Targets: WGS-84 → GCJ-02 and WGS-84 → EPSG:4547 at ≥5,000,000 points/s; the other rows are
for information. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import tracemalloc

import numpy as np
import pyproj

from civicgrid.geo.crs import transform, transform_point

RATE_TARGET = 5_000_000  # points per second
BOX = (113.2, 22.75, 113.65, 23.08)
SEED = 20260102
CONVERSIONS = [  # (src, dst, has a target)
    ("wgs84", "gcj02", True),
    ("wgs84", "epsg4547", True),
    ("gcj02", "wgs84", False),
    ("wgs84", "bd09", False),
    ("bd09", "wgs84", False),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--scalar-sample", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(SEED)
    xmin, ymin, xmax, ymax = BOX
    lon, lat = rng.uniform(xmin, xmax, args.points), rng.uniform(ymin, ymax, args.points)
    sample = min(args.scalar_sample, args.points)
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, pyproj {pyproj.__version__} (PROJ {pyproj.proj_version_str})"
    )
    print()
    print("| conversion | vectorised points/s | scalar loop points/s | speed-up | peak traced MiB | target |")
    print("|---|---:|---:|---:|---:|---|")
    failures = []
    for src, dst, targeted in CONVERSIONS:
        # Start from coordinates of the source system, so inverse conversions see realistic input.
        xs, ys = transform(lon, lat, src="wgs84", dst=src)
        transform(xs[:1000], ys[:1000], src=src, dst=dst)  # warm the caches (pyproj transformer)
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            vx, vy = transform(xs, ys, src=src, dst=dst)
            best = min(best, time.perf_counter() - start)
        tracemalloc.start()
        transform(xs, ys, src=src, dst=dst)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        start = time.perf_counter()
        pairs = zip(xs[:sample].tolist(), ys[:sample].tolist(), strict=True)
        scalar = [transform_point(x, y, src=src, dst=dst) for x, y in pairs]
        scalar_time = time.perf_counter() - start
        sx, sy = np.array(scalar).T
        difference = max(np.max(np.abs(sx - vx[:sample])), np.max(np.abs(sy - vy[:sample])))
        tolerance = 1e-3 if dst == "epsg4547" else 1e-9

        rate, scalar_rate = args.points / best, sample / scalar_time
        verdict = "—"
        if targeted:
            verdict = f"≥{RATE_TARGET:,}: " + ("met" if rate >= RATE_TARGET else "MISSED")
            if rate < RATE_TARGET:
                failures.append(f"{src}→{dst}: {rate:,.0f}/s below {RATE_TARGET:,}/s")
        if difference > tolerance:
            failures.append(f"{src}→{dst}: vector and scalar differ by {difference:g}")
        print(
            f"| {src} → {dst} | {rate:,.0f} | {scalar_rate:,.0f} | {rate / scalar_rate:,.0f}× "
            f"| {peak / 2**20:.1f} | {verdict} |"
        )
    print()
    print(f"{args.points:,} points, best of {args.repeat}; scalar loop on {sample:,} points, extrapolated per point")
    print(f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
