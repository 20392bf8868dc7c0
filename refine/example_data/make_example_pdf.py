"""Write the bundled PDF example: a simulated x-ray G(r) of the two-phase DRS model (DOMAIN.md §1).

    python refine/example_data/make_example_pdf.py  # rewrites drs_rocksalt.cif, drs_supercell.cif, drs_two_phase.gr

Seeded, so running it again gives the same files. Truth (what `refine demo` should recover):

* Phase 1, crystalline disordered rock salt: Fm-3m, a = 4.642 Å, Na0.6V0.4 on 4a, O on 4b, Uiso(cations) = 0.010,
  Uiso(O) = 0.012 Å², delta2 = 2.0 Å², scale 0.7.
* Phase 2, a locally distorted 2x2x2 rock-salt supercell (64 atoms, P1, Na/V ordered at random, every atom displaced
  by 0.05-0.1 Å in a random direction; positions fixed in the fit), isotropic U 0.006 Å², scale 0.3.
* X-ray, Qmax = 22 Å⁻¹, Qdamp = 0.04 Å⁻¹, r = 0.5-30 Å in 0.01 Å steps, Gaussian noise of 0.02 with dG written.

G(r) is computed with refine's own engine (tests check that engine against PDFfit2); this file is a demo input, not
a reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 20261121
A = 4.642
QMAX, QDAMP = 22.0, 0.04


def rocksalt_cif(path: Path, cations: tuple[tuple[str, float], ...] = (("Na", 0.6), ("V", 0.4)), a: float = A,
                 title: str = "drs_rocksalt") -> None:
    """The average structure, written as a CIF (Fm-3m, mixed 4a site of ``cations`` (element, occupancy), O on 4b,
    Uiso 0.010 / 0.012 Å²)."""
    sites = "".join(f"{el}1 {el} 0 0 0 {occ:.6g} 0.010\n" for el, occ in cations)
    path.write_text(f"""data_{title}
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
_cell_length_a {a}
_cell_length_b {a}
_cell_length_c {a}
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
_atom_site_U_iso_or_equiv
{sites}O1 O 0.5 0.5 0.5 1.0 0.012
""")


def supercell_cif(path: Path, rng: np.random.Generator) -> np.ndarray:
    """A 2x2x2 conventional-cell supercell (64 atoms) with random Na/V order and 0.05-0.1 Å displacements (P1)."""
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    cells = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)])
    cations = ((fcc[None] + cells[:, None]) / 2).reshape(-1, 3)
    anions = ((fcc[None] + 0.5 + cells[:, None]) / 2).reshape(-1, 3) % 1.0
    species = np.where(rng.permutation(32) < 19, "Na", "V").tolist() + ["O"] * 32  # 19 Na : 13 V ~ 0.6 : 0.4
    xyz = np.vstack([cations, anions])
    direction = rng.normal(size=xyz.shape)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    xyz = (xyz + direction * rng.uniform(0.05, 0.10, size=(len(xyz), 1)) / (2 * A)) % 1.0
    lines = ["data_drs_supercell\n_symmetry_space_group_name_H-M 'P 1'\n_symmetry_Int_Tables_number 1",
             *[f"_cell_length_{x} {2 * A}" for x in "abc"],
             *[f"_cell_angle_{x} 90" for x in ("alpha", "beta", "gamma")],
             "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
             "_atom_site_fract_z\n_atom_site_U_iso_or_equiv"]
    lines += [f"{el}{i + 1} {el} {x:.6f} {y:.6f} {z:.6f} 0.006" for i, (el, (x, y, z)) in
              enumerate(zip(species, xyz, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return xyz


def main() -> None:
    from refine.pdf.calculate import PDFSettings, calc_gr
    from refine.pdf.pairs import PairTable
    from refine.pdf.structure import PDFStructure

    rng = np.random.default_rng(SEED)
    rocksalt_cif(HERE / "drs_rocksalt.cif")
    supercell_cif(HERE / "drs_supercell.cif", rng)
    r = np.round(np.arange(0.5, 30.0 + 1e-9, 0.01), 4)
    g = np.zeros_like(r)
    for name, scale, extra in (("drs_rocksalt.cif", 0.7, {"delta2": 2.0}), ("drs_supercell.cif", 0.3, {})):
        table = PairTable.build(PDFStructure.load(HERE / name), r[-1] + 10.0, qmax=QMAX)
        g += calc_gr(table, r, PDFSettings(scale=scale, qdamp=QDAMP, qmax=QMAX, **extra))
    dg = np.full_like(r, 0.02)
    g_obs = g + rng.normal(0.0, dg)
    header = ["simulated x-ray G(r) of the two-phase DRS model (refine/example_data/make_example_pdf.py; seeded)",
              f"qmax = {QMAX}", f"qdamp = {QDAMP}", "truth: rocksalt a 4.642 scale 0.7 delta2 2.0; supercell scale 0.3",
              "r G dr dG"]
    with open(HERE / "drs_two_phase.gr", "w", encoding="utf-8") as fh:
        fh.write("".join(f"# {h}\n" for h in header[:-1]) + f"#L {header[-1]}\n")
        np.savetxt(fh, np.column_stack([r, g_obs, np.zeros_like(r), dg]), fmt="%.6f")


if __name__ == "__main__":
    main()
