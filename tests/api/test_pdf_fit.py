"""``refine.pdf_fit``: the note that says when the fast default model restricts a phase (a non-cubic cell scaled as
a whole, atoms at the file's positions) and what frees it."""

from __future__ import annotations

import refine
from refine.api.pdf import pdf_phase_inputs, restricted_phases_note
from tests.conftest import data_file


def test_the_note_names_the_non_cubic_phases_of_the_default_model_only():
    lmo, ni = str(data_file("LaMnO3.stru")), str(data_file("Ni.stru"))
    (note,) = restricted_phases_note(pdf_phase_inputs([lmo, ni]))
    assert note.startswith("lamno3: non-cubic cell scaled as a whole") and "ni" not in note.split(":")[0]
    assert "refine_structure (--refine-structure)" in note
    assert restricted_phases_note(pdf_phase_inputs([ni])) == []  # a cubic cell: its a is refined as it is
    assert restricted_phases_note(pdf_phase_inputs([f"{lmo},fixed"])) == []  # fixed on purpose
    assert restricted_phases_note(pdf_phase_inputs([lmo], refine_structure=True)) == []


def test_pdf_fit_returns_the_note_with_the_default_model(tmp_path):
    lmo = data_file("LaMnO3.stru")
    gr = tmp_path / "lmo.gr"
    refine.pdf_calc(lmo, qmax=25.0, qdamp=0.03, delta2=1.0, rmin=1.0, rmax=8.0, output=gr)
    result = refine.pdf_fit(gr, [str(lmo)], qmax=25.0, qdamp=0.03)
    (note,) = result.extra["notes"]
    assert note.startswith("lamno3: non-cubic cell")
    assert result.statistics.Rw < 0.02  # the file's own structure: the restriction costs nothing here
