"""The search–match library index (refine/powder/phase_index.py): lines, caching, skipped files, element filter."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from refine.crystal.reflections import generate_reflections
from refine.crystal.structure_factors import line_intensities
from refine.errors import InputError
from refine.io.structures import read_structure
from refine.powder.phase_index import build_index
from tests.conftest import data_file

CIF = "Na3V2PO43_NASICON.cif"


@pytest.fixture()
def folder(tmp_path):
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    shutil.copy(data_file(CIF), lib / "nasicon.cif")
    (lib / "sub" / "nacl.cif").write_text(_NACL)
    (lib / "broken.cif").write_text("data_x\n_cell_length_a 3\n")
    return lib


_NACL = data_file("NaCl.cif").read_text()  # rock salt, a = 5.62 Å


def test_entries_hold_the_lines_of_the_crystal_model(folder, tmp_path):
    index = build_index(folder, cache=tmp_path / "index.npz")
    names = sorted(e.name for e in index.entries)
    assert names == ["nacl", "nasicon"]
    assert [os.path.basename(p) for p, _ in index.skipped] == ["broken.cif"]
    nacl = next(e for e in index.entries if e.name == "nacl")
    structure = read_structure(folder / "sub" / "nacl.cif")
    refl = generate_reflections(structure.lattice, structure.space_group, 0.6)
    assert np.allclose(nacl.d, refl.d, rtol=1e-12)
    assert np.allclose(nacl.intensity, line_intensities(structure, refl, dispersion=False), rtol=1e-12)
    assert nacl.elements == ("Cl", "Na") and nacl.formula == "Cl4 Na4" and nacl.space_group.startswith("F")


def test_cache_is_reused_and_refreshed_when_a_file_changes(folder, tmp_path):
    cache = tmp_path / "index.npz"
    first = build_index(folder, cache=cache)
    stamp = cache.stat().st_mtime_ns
    again = build_index(folder, cache=cache)
    assert cache.stat().st_mtime_ns == stamp  # nothing changed: not rewritten
    assert [e.name for e in again.entries] == [e.name for e in first.entries] and again.skipped == first.skipped
    for a, b in zip(first.entries, again.entries, strict=True):
        assert np.array_equal(a.d, b.d) and np.array_equal(a.intensity, b.intensity)
    target = folder / "sub" / "nacl.cif"
    target.write_text(_NACL.replace("5.62", "5.70"))
    os.utime(target, ns=(stamp + 10**9, stamp + 10**9))
    changed = build_index(folder, cache=cache)
    assert next(e for e in changed.entries if e.name == "nacl").cell[0] == pytest.approx(5.70)


def test_element_filter_keeps_phases_made_of_those_elements(folder, tmp_path):
    index = build_index(folder, cache="")
    assert [e.name for e in index.with_elements(["na", "Cl", "O"]).entries] == ["nacl"]
    assert len(index.with_elements(["Na", "V", "P", "O", "Cl"])) == 2


def test_a_folder_without_structures_is_refused(tmp_path):
    with pytest.raises(InputError, match="no structure files"):
        build_index(tmp_path, cache="")
    with pytest.raises(InputError, match="must be a folder"):
        build_index(tmp_path / "missing", cache="")


def test_many_files_are_read_in_processes_with_the_same_result(tmp_path):
    lib = tmp_path / "many"
    lib.mkdir()
    for k in range(24):
        (lib / f"nacl{k:02d}.cif").write_text(_NACL.replace("5.62", f"{5.5 + 0.01 * k:.2f}"))
    serial = build_index(lib, cache="", workers=1)
    pooled = build_index(lib, cache="", workers=2)
    assert [e.name for e in pooled.entries] == [e.name for e in serial.entries]
    for a, b in zip(serial.entries, pooled.entries, strict=True):
        assert np.array_equal(a.d, b.d) and np.array_equal(a.intensity, b.intensity)
