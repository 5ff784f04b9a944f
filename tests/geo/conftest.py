"""A small real layer for service tests: 3 communities of 市桥街道 partitioned into ~30 grids by the same
synthetic generator the demo uses, as a GeoJSON document."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import box, mapping

from civicgrid.geo.synthetic import synthetic_partition

SHIQIAO = "440113007000"
COMMUNITIES = ["440113007003", "440113007005", "440113007007"]


@pytest.fixture(scope="session")
def small_partition():
    return synthetic_partition(
        outline=box(113.35, 22.93, 113.40, 22.97), towns=[(SHIQIAO, COMMUNITIES)], grids_total=30, seed=7
    )


def grids_geojson(partition, *, names: bool = True) -> dict:
    document = partition.feature_collection("grid")
    for feature in document["features"]:
        feature["properties"]["name"] = f"测试网格{feature['properties']['code'][-3:]}" if names else ""
    return document


@pytest.fixture
def layer_bytes(small_partition) -> bytes:
    return json.dumps(grids_geojson(small_partition), ensure_ascii=False).encode()


@pytest.fixture
def boundary_bytes(small_partition) -> bytes:
    return json.dumps(small_partition.feature_collection("community")).encode()


def feature_collection(features: list[tuple[dict, object]]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": p, "geometry": mapping(g) if g is not None else None}
                for p, g in features
            ],
        },
        ensure_ascii=False,
    ).encode()
