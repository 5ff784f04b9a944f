"""Fixing codes on publication (编码固定): survivals keep their codes, new grids take the next free
sequence, retired codes are never reused, splits and merges are recorded."""

from __future__ import annotations

import pytest
from shapely.geometry import box

from civicgrid.geo.codes import CodeLayout, NewGrid, OldGrid, plan_codes

C1 = "440113007003"
C2 = "440113007005"


def grid_row(community, codes_and_boxes):
    return [OldGrid(code, community, geom) for code, geom in codes_and_boxes]


def test_layout():
    layout = CodeLayout()
    assert layout.make(C1, 7) == C1 + "007"
    assert layout.sequence_of(C1, C1 + "012") == 12
    assert layout.sequence_of(C1, C2 + "012") is None
    assert layout.sequence_of(C1, C1 + "000") is None
    assert layout.sequence_of(C1, C1 + "12") is None
    with pytest.raises(ValueError, match="已用尽"):
        layout.make(C1, 1000)
    assert CodeLayout(sequence_digits=4).make(C1, 7) == C1 + "0007"


def test_unchanged_and_reshaped_grids_keep_their_codes():
    old = [OldGrid(C1 + "001", C1, box(0, 0, 1, 1)), OldGrid(C1 + "002", C1, box(1, 0, 2, 1))]
    new = [NewGrid(0, C1, C1 + "001", box(0, 0, 1, 1)), NewGrid(1, C1, "", box(1.05, 0, 2, 1))]
    plan = plan_codes(old, new, ever_issued={C1: {C1 + "001", C1 + "002"}}, max_sequence={C1: 2})
    assert plan.codes == {0: C1 + "001", 1: C1 + "002"}
    assert not plan.issued and not plan.retired
    assert [(e.from_code, e.kind) for e in plan.edges] == [(C1 + "002", "reshaped")]


def test_split_and_merge_record_lineage_and_never_reuse_codes():
    # Row of five unit squares; 002 is split in two, 004 and 005 are merged. 003 was retired long ago.
    old = [OldGrid(f"{C1}00{i}", C1, box(i - 1, 0, i, 1)) for i in (1, 2, 4, 5)] + [
        OldGrid(C1 + "006", C1, box(2, 0, 3, 1))
    ]
    new = [
        NewGrid(0, C1, C1 + "001", box(0, 0, 1, 1)),
        NewGrid(1, C1, "", box(1, 0, 1.5, 1)),
        NewGrid(2, C1, "", box(1.5, 0, 2, 1)),
        NewGrid(3, C1, C1 + "006", box(2, 0, 3, 1)),
        NewGrid(4, C1, "", box(3, 0, 5, 1)),
    ]
    ever = {C1: {C1 + "001", C1 + "002", C1 + "003", C1 + "004", C1 + "005", C1 + "006"}}
    plan = plan_codes(old, new, ever_issued=ever, max_sequence={C1: 6})
    assert plan.codes[0] == C1 + "001" and plan.codes[3] == C1 + "006"
    fresh = {plan.codes[1], plan.codes[2], plan.codes[4]}
    assert fresh == {C1 + "007", C1 + "008", C1 + "009"}
    assert plan.retired == {C1 + "002", C1 + "004", C1 + "005"}
    kinds = {(e.from_code, e.to_code): e.kind for e in plan.edges}
    assert kinds[(C1 + "002", plan.codes[1])] == "split"
    assert kinds[(C1 + "002", plan.codes[2])] == "split"
    assert kinds[(C1 + "004", plan.codes[4])] == "merged"
    assert kinds[(C1 + "005", plan.codes[4])] == "merged"
    assert len(plan.edges) == 4


def test_a_proposed_code_is_taken_only_if_never_issued():
    old = [OldGrid(C1 + "001", C1, box(0, 0, 1, 1))]
    new = [
        NewGrid(0, C1, C1 + "001", box(5, 5, 6, 6)),  # claims an existing code without being that grid
        NewGrid(1, C1, C1 + "050", box(7, 7, 8, 8)),  # a fresh, well-formed code: accepted
        NewGrid(2, C1, C1 + "003", box(9, 9, 10, 10)),  # retired earlier: never reused
    ]
    plan = plan_codes(old, new, ever_issued={C1: {C1 + "001", C1 + "003"}}, max_sequence={C1: 3})
    assert plan.codes[1] == C1 + "050"
    assert plan.codes[0] not in {C1 + "001", C1 + "003"}
    assert plan.codes[2] not in {C1 + "001", C1 + "003"}
    assert plan.retired == {C1 + "001"}
    assert len(set(plan.codes.values())) == 3


def test_a_grid_moved_to_another_community_gets_that_communitys_code():
    old = [OldGrid(C1 + "001", C1, box(0, 0, 1, 1))]
    new = [NewGrid(0, C2, "", box(0, 0, 1, 1))]
    plan = plan_codes(old, new, ever_issued={C1: {C1 + "001"}}, max_sequence={C1: 1})
    assert plan.codes[0] == C2 + "001" and plan.retired == {C1 + "001"}
    assert plan.edges[0].kind == "replaced"


def test_first_publication_takes_the_files_codes():
    new = [NewGrid(i, C1, f"{C1}{i + 1:03d}", box(i, 0, i + 1, 1)) for i in range(5)]
    plan = plan_codes([], new, ever_issued={}, max_sequence={})
    assert [plan.codes[i] for i in range(5)] == [f"{C1}{i + 1:03d}" for i in range(5)]
    assert not plan.edges and not plan.retired
