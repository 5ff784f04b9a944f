"""Time and memory of the synthetic demo partition (SYNTHETIC boundaries, not official), with size statistics
and an optional PNG rendering drawn with numpy alone (no matplotlib needed).

    .venv/bin/python benchmarks/bench_synthetic.py [--runs 3] [--seed 20261125] [--grids 3000]
        [--png test-artifacts/synthetic_partition.png]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import struct
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from civicgrid.geo.synthetic import DEFAULT_SEED, SyntheticPartition, load_panyu_inputs, synthetic_partition


def digest(partition: SyntheticPartition) -> str:
    h = hashlib.sha256()
    for level in (partition.towns, partition.communities, partition.grids):
        for code, geom in level.items():
            h.update(code.encode())
            h.update(shapely.to_wkb(geom))
    return h.hexdigest()


def areas_km2(geoms: list[shapely.Polygon]) -> npt.NDArray[np.float64]:
    to_4547 = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)
    projected = shapely.transform(
        np.asarray(geoms, dtype=object), lambda xy: np.column_stack(to_4547.transform(xy[:, 0], xy[:, 1]))
    )
    return np.asarray(shapely.area(projected), dtype=float) / 1e6


# --- PNG rendering --------------------------------------------------------------------------------------

# 5×7 bitmap glyphs for the caption, one string of 7 rows × 5 columns per character.
GLYPHS = {
    "A": "01110100011000111111100011000110001",
    "B": "11110100011000111110100011000111110",
    "C": "01110100011000010000100001000101110",
    "D": "11110100011000110001100011000111110",
    "E": "11111100001000011110100001000011111",
    "F": "11111100001000011110100001000010000",
    "G": "01110100011000010111100011000101111",
    "H": "10001100011000111111100011000110001",
    "I": "01110001000010000100001000010001110",
    "L": "10000100001000010000100001000011111",
    "M": "10001110111010110101100011000110001",
    "N": "10001110011010110011100011000110001",
    "O": "01110100011000110001100011000101110",
    "P": "11110100011000111110100001000010000",
    "R": "11110100011000111110101001001010001",
    "S": "01111100001000001110000010000111110",
    "T": "11111001000010000100001000010000100",
    "U": "10001100011000110001100011000101110",
    "W": "10001100011000110101101011101110001",
    "Y": "10001100010101000100001000010000100",
    "0": "01110100011001110101110011000101110",
    "1": "00100011000010000100001000010001110",
    "2": "01110100010000100010001000100011111",
    "3": "11110000010000101110000010000111110",
    "4": "00010001100101010010111110001000010",
    "5": "11111100001111000001000011000101110",
    "6": "00110010001000011110100011000101110",
    "7": "11111000010001000100010000100001000",
    "8": "01110100011000101110100011000101110",
    "9": "01110100011000101111000010001001100",
    "-": "00000000000000011111000000000000000",
    ":": "00000011000110000000011000110000000",
    ",": "00000000000000000000011000010001000",
    " ": "00000000000000000000000000000000000",
}


def draw_text(image: npt.NDArray[np.uint8], text: str, x: int, y: int, scale: int) -> None:
    for k, char in enumerate(text.upper()):
        glyph = GLYPHS.get(char, GLYPHS[" "])
        for row in range(7):
            for col in range(5):
                if glyph[row * 5 + col] == "1":
                    x0, y0 = x + (k * 6 + col) * scale, y + row * scale
                    image[y0 : y0 + scale, x0 : x0 + scale] = (150, 0, 0)


def write_png(path: Path, image: npt.NDArray[np.uint8]) -> None:
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    )


def render(partition: SyntheticPartition, path: Path, width: int = 1600) -> None:
    """Grids filled in a colour per town (lighter/darker per community), grid edges thin grey, community
    edges dark grey, town edges black; a caption says the boundaries are synthetic."""
    codes = list(partition.grids)
    geoms = np.asarray([partition.grids[c] for c in codes], dtype=object)
    town_codes = list(partition.towns)
    community_codes = list(partition.communities)
    grid_town = np.array([town_codes.index(partition.community_town[partition.grid_community[c]]) for c in codes])
    grid_comm = np.array([community_codes.index(partition.grid_community[c]) for c in codes])
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    aspect = np.cos(np.radians((miny + maxy) / 2))
    margin, caption = 20, 40
    scale = (width - 2 * margin) / ((maxx - minx) * aspect)
    height = int((maxy - miny) * scale) + 2 * margin + caption
    xs = minx + (np.arange(width) + 0.5 - margin) / (scale * aspect)
    ys = maxy - (np.arange(height - caption) + 0.5 - margin) / scale
    gx, gy = np.meshgrid(xs, ys)
    points = shapely.points(gx.ravel(), gy.ravel())
    point_index, grid_index = shapely.STRtree(geoms).query(points, predicate="within")
    owner = np.full(points.shape, -1, dtype=np.int64)
    owner[point_index] = grid_index
    owner = owner.reshape(gx.shape)

    rng = np.random.default_rng(7)
    hues = rng.permutation(len(town_codes)) / len(town_codes)
    base = np.array([_hsv(h, 0.45, 0.95) for h in hues])
    shade = 0.8 + 0.2 * rng.random(len(community_codes))
    colours = (base[grid_town] * shade[grid_comm][:, None]).astype(np.uint8)
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    body = image[: height - caption]
    inside = owner >= 0
    body[inside] = colours[owner[inside]]

    def edges(label: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        edge = np.zeros(label.shape, dtype=bool)
        edge[:, :-1] |= label[:, :-1] != label[:, 1:]
        edge[:-1, :] |= label[:-1, :] != label[1:, :]
        return edge

    def lift(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        out = np.full(owner.shape, -1, dtype=np.int64)
        out[inside] = values[owner[inside]]
        return out

    body[edges(owner)] = (150, 150, 150)
    body[edges(lift(grid_comm))] = (70, 70, 70)
    town_edge = edges(lift(grid_town))
    town_edge[1:, :] |= town_edge[:-1, :]
    town_edge[:, 1:] |= town_edge[:, :-1]
    body[town_edge] = (0, 0, 0)
    text = (
        f"SYNTHETIC DEMO - NOT OFFICIAL BOUNDARIES - SEED {partition.seed}: {len(partition.towns)} TOWNS, "
        f"{len(partition.communities)} COMMUNITIES, {len(partition.grids)} GRIDS"
    )
    draw_text(image, text, margin, height - caption + 10, 2)
    write_png(path, image)


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (rgb[0] * 255, rgb[1] * 255, rgb[2] * 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--grids", type=int, default=3000)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()

    outline, towns = load_panyu_inputs()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, cpu_times, digests = [], [], set()
    partition = None
    for run in range(args.runs):
        if run == 0:
            tracemalloc.start()
        start, cpu_start = time.perf_counter(), time.process_time()
        partition = synthetic_partition(outline=outline, towns=towns, grids_total=args.grids, seed=args.seed)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        if run == 0:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"run 1 (under tracemalloc): {times[0]:.2f} s, peak Python/numpy allocations {peak / 2**20:.1f} MiB")
        digests.add(digest(partition))
    assert partition is not None
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"runs: {args.runs}, wall {', '.join(f'{t:.2f}' for t in times)} s, median {statistics.median(times):.2f} s")
    print(f"CPU time: {', '.join(f'{t:.2f}' for t in cpu_times)} s, median {statistics.median(cpu_times):.2f} s")
    print(f"peak RSS: {rss_after / 1024:.0f} MiB (growth during generation {(rss_after - rss_before) / 1024:.0f} MiB)")
    print(f"identical WKB across runs: {len(digests) == 1} ({next(iter(digests))[:16]})")
    print(f"towns {len(partition.towns)}, communities {len(partition.communities)}, grids {len(partition.grids)}")
    for name, level in (("town", partition.towns), ("community", partition.communities), ("grid", partition.grids)):
        a = areas_km2(list(level.values()))
        print(
            f"{name:9s} area km² (EPSG:4547): mean {a.mean():.3f}  min {a.min():.3f}  max {a.max():.3f}  "
            f"total {a.sum():.1f}"
        )
    per_community: dict[str, int] = {}
    for community in partition.grid_community.values():
        per_community[community] = per_community.get(community, 0) + 1
    counts = list(per_community.values())
    print(f"grids per community: min {min(counts)}, median {statistics.median(counts)}, max {max(counts)}")
    if args.png:
        start = time.perf_counter()
        render(partition, args.png)
        print(f"rendered {args.png} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
