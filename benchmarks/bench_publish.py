"""Publishing benchmark (docs/benchmarks.md): a 3,000-grid layer with code matching and every topology
check, through the real services and database.

    .venv/bin/python benchmarks/bench_publish.py            # embedded SQLite in a temporary file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python benchmarks/bench_publish.py

Steps, each timed: import the synthetic Panyu layer (3,000 grids) as a draft with its 276 community
boundaries; publish it (topology checks twice — once to report, once under the lock — then codes, grid
units, code registry); derive an adjustment draft, split one grid and merge two, and publish again (code
matching against the 3,000 grids of V1, lineage). Peak memory is the process's maximum RSS and the peak
of Python allocations (tracemalloc) during the publications.

Baseline in the same run: the overlap check done naively, every pair of grids intersected in Python,
timed on the first 300 grids and extrapolated quadratically to 3,000; against the STRtree-based check.
Exits 1 if a publication takes 10 s or more.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc

TARGET_SECONDS = 10.0


def setup_django() -> str:
    if not os.environ.get("DATABASE_URL"):
        path = os.path.join(tempfile.mkdtemp(prefix="cg-bench-"), "bench.sqlite3")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("CIVICGRID_ALLOW_DEV_KEY", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connection

    if connection.vendor == "postgresql":
        call_command("flush", "--no-input", verbosity=0)
    call_command("migrate", verbosity=0)
    return connection.vendor


def main() -> int:
    vendor = setup_django()
    import shapely
    from shapely.geometry import box

    from civicgrid.demo.services import divisions_csv_text
    from civicgrid.geo import services
    from civicgrid.geo.models import GridFeature
    from civicgrid.geo.synthetic import load_panyu_inputs, synthetic_partition
    from civicgrid.orgunits.services import orgunits_import

    orgunits_import(text=divisions_csv_text(), actor=None)
    outline, towns = load_panyu_inputs()
    partition = synthetic_partition(outline=outline, towns=towns)
    grids = partition.feature_collection("grid")
    for feature in grids["features"]:
        feature["properties"]["name"] = "网格" + feature["properties"]["code"][-3:]
    rows: list[tuple[str, int, float]] = []

    def timed(label: str, items: int, fn):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = fn()
        rows.append((label, items, time.perf_counter() - start))
        return result

    draft = timed(
        "import draft (validate, convert, store)",
        3000,
        lambda: services.layer_import(actor=None, data=json.dumps(grids).encode(), filename="g.geojson", name="V1"),
    )
    timed(
        "import 276 community boundaries",
        276,
        lambda: services.boundaries_import(
            actor=None,
            layer=draft,
            data=json.dumps(partition.feature_collection("community")).encode(),
            filename="c.geojson",
        ),
    )
    tracemalloc.start()
    v1 = timed("publish V1 (checks ×2, 3,000 new codes)", 3000, lambda: services.layer_publish(actor=None, layer=draft))
    adjustment = services.layer_draft_from(actor=None, base=v1, name="V2")
    features = list(adjustment.features.order_by("proposed_code")[:40])
    target = features[0]
    polygon = shapely.from_wkb(bytes(target.geometry))
    cx = polygon.centroid.x
    west = shapely.intersection(polygon, box(-180, -90, cx, 90))
    east = shapely.intersection(polygon, box(cx, -90, 180, 90))
    GridFeature.objects.filter(pk=target.pk).update(geometry=shapely.to_wkb(west))
    GridFeature.objects.create(
        layer=adjustment,
        proposed_code="",
        name="拆分",
        kind=target.kind,
        community=target.community,
        geometry=shapely.to_wkb(east),
        min_x=east.bounds[0],
        min_y=east.bounds[1],
        max_x=east.bounds[2],
        max_y=east.bounds[3],
        area_m2=1,
    )
    geoms = {f.pk: shapely.from_wkb(bytes(f.geometry)) for f in features[1:] if f.community_id == target.community_id}
    pair = next((a, b) for a in geoms for b in geoms if a < b and shapely.intersection(geoms[a], geoms[b]).length > 0)
    GridFeature.objects.filter(pk=pair[0]).update(
        geometry=shapely.to_wkb(shapely.union(geoms[pair[0]], geoms[pair[1]]))
    )
    GridFeature.objects.filter(pk=pair[1]).delete()
    import cProfile

    profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
    if profiler:
        profiler.enable()
    v2 = timed(
        "publish V2 (checks ×2, match 3,000 against V1, lineage)",
        3000,
        lambda: services.layer_publish(actor=None, layer=adjustment),
    )
    if profiler:
        profiler.disable()
        profiler.dump_stats(os.path.join(tempfile.gettempdir(), "civicgrid-publish.prof"))
    _, peak_python = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    summary = v2.check_summary["publish"]

    # Baseline: naive pairwise overlap test on 300 grids, extrapolated to 3,000 (n²/2 pairs).
    sample = [shapely.from_wkb(bytes(f.geometry)) for f in v1.features.order_by("code")[:300]]
    start = time.perf_counter()
    for i in range(len(sample)):
        for j in range(i + 1, len(sample)):
            if sample[i].intersects(sample[j]):
                shapely.area(shapely.intersection(sample[i], sample[j]))
    naive_300 = time.perf_counter() - start
    naive_3000 = naive_300 * (3000 * 2999) / (300 * 299)
    from civicgrid.geo.topology import GridInput, check_layer

    inputs = [
        GridInput(f.code, f.community.code, shapely.from_wkb(bytes(f.geometry)))
        for f in v1.features.select_related("community")
    ]
    start = time.perf_counter()
    check_layer(inputs)
    full_check = time.perf_counter() - start

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"database: {vendor}; grids: 3000; V2 kept {summary['kept']}, new {summary['issued']}, "
        f"retired {summary['retired']}, lineage edges {summary['lineage']}"
    )
    print(f"{'step':<60} {'items':>6} {'seconds':>8}")
    for label, items, seconds in rows:
        print(f"{label:<60} {items:>6} {seconds:>8.2f}")
    print(f"{'all topology checks, no boundaries (STRtree, vectorised)':<60} {3000:>6} {full_check:>8.2f}")
    print(f"{'baseline: naive pairwise overlap test, 300 grids':<60} {300:>6} {naive_300:>8.2f}")
    print(f"{'baseline extrapolated to 3,000 grids (n² pairs)':<60} {3000:>6} {naive_3000:>8.2f}")
    print(f"peak RSS {rss_mb:.0f} MiB; peak Python allocations during publication {peak_python / 2**20:.0f} MiB")
    slow = [r for r in rows if r[0].startswith("publish") and r[2] >= TARGET_SECONDS]
    if slow or summary["kept"] != 2997 or summary["issued"] != 3:
        print("TARGET MISSED", slow, summary)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
