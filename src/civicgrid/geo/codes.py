"""Fixing grid codes (编码固定) when a layer version is published. Pure functions: geometries in,
code assignments and lineage out.

- A new grid *survives* an old one of the same community when each covers most of the other (both
  shares of the overlap ≥ `survival_share`, default 0.8): it keeps the old code. A boundary adjustment
  is such a survival.
- Every other new grid gets a fresh code: the code proposed in the file when it is well-formed for its
  community and has never been issued, else the community's next free sequence. Codes are never
  reused: the sequence continues after the highest ever issued, retired codes included.
- Old grids that do not survive are retired. Lineage edges link old and new grids that share a
  meaningful part of their area: one old grid into several new ones is a split, several old ones into
  one new grid a merge, one into one a re-drawing; survivals whose boundary moved are boundary
  adjustments.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from django.utils.translation import gettext as _
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class CodeLayout:
    """Grid code = community code + a zero-padded sequence (DB11 style layouts differ; configurable)."""

    sequence_digits: int = 3

    def make(self, community: str, sequence: int) -> str:
        if sequence >= 10**self.sequence_digits:
            raise ValueError(
                _("社区 %(community)s 的网格序号已用尽（最多 %(max)s 个）")
                % {"community": community, "max": 10**self.sequence_digits - 1}
            )
        return f"{community}{sequence:0{self.sequence_digits}d}"

    def sequence_of(self, community: str, code: str) -> int | None:
        """The sequence number if `code` is a well-formed code of `community`, else None."""
        match = re.fullmatch(rf"{re.escape(community)}(\d{{{self.sequence_digits}}})", code)
        if not match or int(match.group(1)) == 0:
            return None
        return int(match.group(1))


@dataclass(frozen=True)
class OldGrid:
    code: str
    community: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class NewGrid:
    key: int  # position in the draft
    community: str
    proposed_code: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class Edge:
    from_code: str
    to_code: str
    kind: str  # reshaped | split | merged | replaced
    share_of_old: float
    share_of_new: float


@dataclass
class CodePlan:
    codes: dict[int, str] = field(default_factory=dict)  # new grid key -> final code
    kept: set[str] = field(default_factory=set)
    issued: dict[str, tuple[str, int]] = field(default_factory=dict)  # new code -> (community, sequence)
    retired: set[str] = field(default_factory=set)
    edges: list[Edge] = field(default_factory=list)


def plan_codes(
    old: Sequence[OldGrid],
    new: Sequence[NewGrid],
    *,
    ever_issued: dict[str, set[str]],
    max_sequence: dict[str, int],
    layout: CodeLayout | None = None,
    survival_share: float = 0.8,
    lineage_share: float = 0.05,
    same_shape_share: float = 0.999,
) -> CodePlan:
    """Decide every new grid's code. `ever_issued` maps a community to every code it has ever had;
    `max_sequence` to the highest sequence ever issued in it."""
    layout = layout or CodeLayout()
    plan = CodePlan()
    survivors: dict[int, int] = {}  # new index -> old index
    edges: list[tuple[int, int, float, float]] = []
    if old and new:
        old_geoms = np.asarray([g.geometry for g in old], dtype=object)
        new_geoms = np.asarray([g.geometry for g in new], dtype=object)
        tree = shapely.STRtree(old_geoms)
        new_index, old_index = tree.query(new_geoms, predicate="intersects")
        if new_index.size:
            overlap = shapely.area(shapely.intersection(new_geoms[new_index], old_geoms[old_index]))
            share_old = overlap / np.maximum(shapely.area(old_geoms[old_index]), 1e-30)
            share_new = overlap / np.maximum(shapely.area(new_geoms[new_index]), 1e-30)
            for n, o, s_old, s_new in zip(new_index, old_index, share_old, share_new, strict=True):
                same_community = new[n].community == old[o].community
                if same_community and s_old >= survival_share and s_new >= survival_share:
                    survivors[int(n)] = int(o)
                if s_old >= lineage_share or s_new >= lineage_share:
                    edges.append((int(n), int(o), float(s_old), float(s_new)))

    for n, o in survivors.items():
        plan.codes[new[n].key] = old[o].code
        plan.kept.add(old[o].code)

    next_sequence = dict(max_sequence)
    taken: dict[str, set[str]] = defaultdict(set)
    for community, codes in ever_issued.items():
        taken[community] |= codes
    # Deterministic order: by community, then the proposed code, then the draft position.
    for n in sorted(
        (i for i in range(len(new)) if i not in survivors),
        key=lambda i: (new[i].community, new[i].proposed_code or "~", new[i].key),
    ):
        grid = new[n]
        sequence = layout.sequence_of(grid.community, grid.proposed_code) if grid.proposed_code else None
        if sequence is None or grid.proposed_code in taken[grid.community]:
            sequence = next_sequence.get(grid.community, 0) + 1
        code = layout.make(grid.community, sequence)
        next_sequence[grid.community] = max(next_sequence.get(grid.community, 0), sequence)
        taken[grid.community].add(code)
        plan.codes[grid.key] = code
        plan.issued[code] = (grid.community, sequence)

    plan.retired = {g.code for g in old} - plan.kept

    children: dict[int, list[int]] = defaultdict(list)
    parents: dict[int, list[int]] = defaultdict(list)
    for n, o, _s_old, _s_new in edges:
        children[o].append(n)
        parents[n].append(o)
    for n, o, s_old, s_new in edges:
        from_code, to_code = old[o].code, plan.codes[new[n].key]
        if survivors.get(n) == o:
            if s_old >= same_shape_share and s_new >= same_shape_share:
                continue  # unchanged: no lineage needed
            kind = "reshaped"
        elif len(children[o]) > 1 and len(parents[n]) == 1:
            kind = "split"
        elif len(parents[n]) > 1:
            kind = "merged"
        else:
            kind = "replaced"
        plan.edges.append(Edge(from_code, to_code, kind, round(s_old, 4), round(s_new, 4)))
    plan.edges.sort(key=lambda e: (e.from_code, e.to_code))
    return plan
