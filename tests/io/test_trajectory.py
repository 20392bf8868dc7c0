"""Trajectory frames read one at a time (extended XYZ, XDATCAR, LAMMPS dump): values equal ASE's reading of the
same files, the selection, and every kind of bad input as a one-line InputError."""

from __future__ import annotations

import numpy as np
import pytest

from refine.errors import InputError
from refine.io.trajectory import FrameRange, iter_frames, trajectory_format

ase_io = pytest.importorskip("ase.io")
from ase import Atoms  # noqa: E402


def _frames(n: int = 6, natoms: int = 5, seed: int = 3) -> list:
    rng = np.random.default_rng(seed)
    cell = np.array([[6.0, 0.0, 0.0], [1.0, 5.5, 0.0], [0.5, 0.7, 7.0]])
    symbols = ["Na", "O", "V", "O", "Na"][:natoms]
    return [Atoms(symbols, positions=rng.random((natoms, 3)) * 6, cell=cell, pbc=True) for _ in range(n)]


@pytest.mark.parametrize(("text", "expected"), [("0:6:2", (0, 6, 2)), ("3", (3, 4, 1)), ("2:", (2, None, 1)),
                                                (":4", (0, 4, 1)), (None, (0, None, 1))])
def test_frame_range_parse(text, expected):
    r = FrameRange.parse(text)
    assert (r.start, r.stop, r.step) == expected


@pytest.mark.parametrize("text", ["a:b", "5:2", "0:4:0", "-1:3", "1:2:3:4"])
def test_frame_range_bad(text):
    with pytest.raises(InputError, match="frames"):
        FrameRange.parse(text)


@pytest.mark.parametrize(("name", "fmt"), [("md.xyz", "extxyz"), ("XDATCAR", "xdatcar"), ("run.lammpstrj", "lammps"),
                                           ("a.dump", "lammps"), ("x.cif", None)])
def test_format_from_name(name, fmt):
    assert trajectory_format(name) == fmt


def _compare(ours, theirs, indices):
    assert [f.index for f in ours] == indices
    assert len(ours) == len(theirs)
    for f, a in zip(ours, theirs, strict=True):
        assert f.symbols == tuple(a.get_chemical_symbols())
        np.testing.assert_allclose(f.cell, a.cell[:], atol=1e-9)
        np.testing.assert_allclose(f.positions, a.positions, atol=1e-7)  # XDATCAR: fractional to 8 decimals
        np.testing.assert_allclose(f.fractional, a.get_scaled_positions(wrap=True) % 1.0, atol=1e-7)


def test_extxyz_selected_frames_equal_ase(tmp_path):
    path = tmp_path / "md.xyz"
    ase_io.write(path, _frames(), format="extxyz")
    _compare(list(iter_frames(path, "1:6:2")), ase_io.read(path, index="1:6:2"), [1, 3, 5])


def test_xdatcar_selected_frames_equal_ase(tmp_path):
    path = tmp_path / "XDATCAR"
    frames = _frames()
    ase_io.write(path, frames, format="vasp-xdatcar")
    ours = list(iter_frames(path, "0:5:2"))
    _compare(ours, ase_io.read(path, index="0:5:2", format="vasp-xdatcar"), [0, 2, 4])


def _lammps_dump(path, frames, *, element: bool = True) -> None:
    lines = []
    for k, atoms in enumerate(frames):
        cell = atoms.cell[:]
        xy, xz, yz = cell[1, 0], cell[2, 0], cell[2, 1]
        lo = [0.0, 0.0, 0.0]
        hi = [cell[0, 0], cell[1, 1], cell[2, 2]]
        xlo_b = lo[0] + min(0.0, xy, xz, xy + xz)
        xhi_b = hi[0] + max(0.0, xy, xz, xy + xz)
        ylo_b, yhi_b = lo[1] + min(0.0, yz), hi[1] + max(0.0, yz)
        lines += ["ITEM: TIMESTEP", str(100 * k), "ITEM: NUMBER OF ATOMS", str(len(atoms)),
                  "ITEM: BOX BOUNDS xy xz yz pp pp pp", f"{xlo_b} {xhi_b} {xy}", f"{ylo_b} {yhi_b} {xz}",
                  f"{lo[2]} {hi[2]} {yz}", "ITEM: ATOMS id " + ("element " if element else "type ") + "x y z"]
        for i, (s, p) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)):
            lines.append(f"{i + 1} {s if element else 1} {p[0]:.10f} {p[1]:.10f} {p[2]:.10f}")
    path.write_text("\n".join(lines) + "\n")


def test_lammps_dump_selected_frames_equal_ase(tmp_path):
    path = tmp_path / "md.lammpstrj"
    _lammps_dump(path, _frames())
    ours = list(iter_frames(path, "2:4"))
    _compare(ours, ase_io.read(path, index="2:4", format="lammps-dump-text"), [2, 3])
    np.testing.assert_allclose(ours[0].cell, _frames()[2].cell[:], atol=1e-9)


def test_lammps_dump_without_element_column_is_bad_input(tmp_path):
    path = tmp_path / "md.dump"
    _lammps_dump(path, _frames(2), element=False)
    with pytest.raises(InputError, match="element"):
        list(iter_frames(path))


def test_later_frames_are_not_parsed(tmp_path):
    """Frames after the selection are never read: a corrupt frame 3 does not stop frames 0:2."""
    path = tmp_path / "md.xyz"
    ase_io.write(path, _frames(3), format="extxyz")
    with open(path, "a") as fh:
        fh.write("5\nLattice=\"1 0 0 0 1 0 0 0 1\" Properties=species:S:1:pos:R:3\nNa x y z\n")
    assert [f.index for f in iter_frames(path, "0:2")] == [0, 1]
    with pytest.raises(InputError, match="frame 3"):
        list(iter_frames(path, "0:4"))


def test_changing_atom_count(tmp_path):
    path = tmp_path / "md.xyz"
    ase_io.write(path, _frames(2, 5) + _frames(1, 4), format="extxyz")
    with pytest.raises(InputError, match="atom count must not change"):
        list(iter_frames(path))


def test_changing_species(tmp_path):
    path = tmp_path / "md.xyz"
    other = _frames(1)[0]
    other.set_chemical_symbols(["O"] * 5)
    ase_io.write(path, _frames(1) + [other], format="extxyz")
    with pytest.raises(InputError, match="species must not change"):
        list(iter_frames(path))


def test_no_cell(tmp_path):
    path = tmp_path / "mol.xyz"
    path.write_text("2\nplain xyz\nNa 0 0 0\nO 1 0 0\n")
    with pytest.raises(InputError, match="no periodic cell"):
        list(iter_frames(path))


@pytest.mark.parametrize("frames", ["0:10", "7:9", "4"])
def test_frames_out_of_range(tmp_path, frames):
    path = tmp_path / "md.xyz"
    ase_io.write(path, _frames(4), format="extxyz")
    with pytest.raises(InputError, match="frames"):
        list(iter_frames(path, frames))


def test_not_a_trajectory(tmp_path):
    path = tmp_path / "a.cif"
    path.write_text("data_x\n")
    with pytest.raises(InputError, match="not a trajectory"):
        list(iter_frames(path))


def test_uiso_column(tmp_path):
    path = tmp_path / "md.xyz"
    atoms = _frames(1)[0]
    atoms.set_array("biso", np.full(5, 8 * np.pi**2 * 0.01))
    ase_io.write(path, [atoms], format="extxyz")
    frame = next(iter_frames(path))
    np.testing.assert_allclose(frame.uiso, 0.01, rtol=1e-7)  # extxyz writes 8 significant digits
