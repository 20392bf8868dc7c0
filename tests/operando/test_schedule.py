"""The plan of a sequential run (which scan starts from which), the guard, and the folder source of live mode."""

from __future__ import annotations

import os

import pytest

from refine.operando.schedule import (
    FixedSource,
    FolderSource,
    Guard,
    NumberedFolder,
    Seed,
    is_anchor,
    priority,
    seed_index,
)


def test_chunked_plan_anchors_start_from_anchors_the_rest_from_their_predecessor():
    assert [seed_index(i, 4) for i in range(10)] == [None, 0, 1, 2, 0, 4, 5, 6, 4, 8]
    assert [seed_index(i, 0) for i in range(5)] == [None, 0, 1, 2, 3]  # one chain
    assert [i for i in range(10) if is_anchor(i, 4)] == [0, 4, 8]
    # anchors first, then the scans with most of their chunk after them (every chunk's chain goes on)
    assert sorted(range(10), key=lambda i: priority(i, 4)) == [0, 4, 8, 1, 5, 9, 2, 6, 3, 7]
    assert sorted(range(5), key=lambda i: priority(i, 0)) == [0, 1, 2, 3, 4]  # one chain: in order


def _doc(rwp: float, volume: float) -> dict:
    return {"statistics": {"Rwp": rwp}, "phases": [{"prefix": "nvp", "volume": volume}]}


@pytest.mark.parametrize(("rwp", "volume", "expect"), [
    (0.10, 1000.0, None),
    (0.199, 1019.0, None),          # just inside both limits
    (0.201, 1000.0, "Rwp 0.201 is 2.01 times scan 3's"),
    (0.10, 1021.0, "phase nvp: volume 1021 A^3 is +2.10 % from scan 3's"),
    (0.10, float("nan"), "phase nvp: volume nan"),
])
def test_guard_flags_an_rwp_jump_or_a_volume_step(rwp, volume, expect):
    ref = Seed.from_doc(3, {**_doc(0.10, 1000.0), "parameters": {"nvp_a": {"value": 8.7}}})
    assert ref.values == {"nvp_a": 8.7} and ref.rwp == 0.10 and ref.volumes == {"nvp": 1000.0}
    reason = Guard().reason(_doc(rwp, volume), ref)
    assert reason is None if expect is None else reason.startswith(expect)


def test_guard_off_passes_everything():
    ref = Seed(0, {}, 0.1, {"nvp": 1000.0})
    assert Guard(rwp_factor=0, volume=0).reason(_doc(10.0, 5000.0), ref) is None


def test_fixed_source_gives_its_scans_once(tmp_path):
    source = FixedSource(["a", "b"])
    assert list(source.poll()) == ["a", "b"] and list(source.poll()) == []


def test_folder_source_takes_a_file_once_it_stopped_changing_in_natural_order(tmp_path):
    for name in ("scan_10.xy", "scan_2.xy"):
        (tmp_path / name).write_text("1 2\n")
    known = tmp_path / "scan_1.xy"
    known.write_text("1 2\n")
    source = FolderSource([str(tmp_path / "scan_*.xy")], known=[known])
    assert source.poll() == []  # first sight: not yet known to be complete
    assert [s.path.name for s in source.poll()] == ["scan_2.xy", "scan_10.xy"]
    growing = tmp_path / "scan_11.xy"
    growing.write_text("1 2\n")
    assert source.poll() == []
    with growing.open("a") as fh:
        fh.write("3 4\n")
    os.utime(growing, ns=(1, 1))  # size and time changed since the last look
    assert source.poll() == []
    assert [s.path.name for s in source.poll()] == ["scan_11.xy"]
    assert source.poll() == []


def test_numbered_folder_takes_only_numbered_files_with_their_numbers(tmp_path):
    """Live operando: a pattern is taken once its frame number is known (its integration pass ended), with that
    number; a file nobody numbered (not written by the integration) is never taken."""
    for name in ("f_00.xye", "f_01.xye", "f_03.xye", "stray.xye"):
        (tmp_path / name).write_text("1 2\n")
    numbers = {"f_00.xye": 0, "f_01.xye": 1}
    source = NumberedFolder((str(tmp_path / "*.xye"),), lambda path: numbers.get(path.name)).source()
    assert source.poll() == []  # first sight
    assert [(s.path.name, s.number) for s in source.poll()] == [("f_00.xye", 0), ("f_01.xye", 1)]
    numbers["f_03.xye"] = 3  # frame 2 failed: no pattern, a gap in the numbers
    assert [(s.path.name, s.number) for s in source.poll()] == [("f_03.xye", 3)]
    assert source.poll() == []
