"""Typed results (refine.fit.phase_result): Value prints in the field's notation and is a float but not a number
to compute with; PhaseResult is frozen and reads back from its result-file entry, including entries written before
typed results; Phases is a read-only mapping by name in phase order."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from refine.fit.phase_result import PhaseResult, Phases, Value, phase_line


def _phase(name: str = "drs", **changes) -> PhaseResult:
    a = Value(4.641953, 0.000062)
    right = Value(90.0)
    base = dict(name=name, structure="DRS", space_group="Fm-3m", a=a, b=Value(a.value), c=Value(a.value),
                alpha=right, beta=right, gamma=right, volume=Value(100.0265, 0.0040), scale=Value(0.69183, 0.00184),
                weight_fraction=Value(0.7, 0.01), extra={"nreflections": 12})
    base.update(changes)
    return PhaseResult(**base)


def test_value_prints_with_its_esd_and_converts_to_float():
    v = Value(4.641953, 0.000062)
    assert str(v) == "4.64195(6)" and f"{v}" == "4.64195(6)" and f"{v:.3f}" == "4.642"
    assert float(v) == 4.641953 and str(Value(2.5)) == "2.5" and Value(1.0, float("nan")).esd is None
    assert Value.of(None) is None and Value.of(3, 0.1) == Value(3.0, 0.1)
    with pytest.raises(TypeError):
        v + 1  # noqa: B018 - arithmetic is not overloaded: use .value
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.value = 1.0


def test_phase_result_is_frozen_and_reads_back_from_its_entry():
    ph = _phase()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ph.a = Value(1.0)
    with pytest.raises(TypeError):
        ph.extra["x"] = 1
    entry = ph.to_dict()
    assert entry["name"] == entry["prefix"] == "drs" and entry["structure"] == "DRS"
    assert entry["esd"]["a"] == 0.000062 and entry["scale_esd"] == 0.00184 and entry["nreflections"] == 12
    assert entry["reflections"] is None and entry["R_Bragg"] is None and entry["esd"]["R_Bragg"] is None
    assert PhaseResult.from_dict(entry) == ph
    assert pickle.loads(pickle.dumps(ph)) == ph


def test_entries_written_before_typed_results_read_back():
    """Powder entries named the structure 'name' and the prefix 'prefix'; PDF entries the prefix 'name' and the
    file 'source'."""
    powder = {"name": "Cu", "prefix": "cu", "space_group": "Fm-3m", "a": 3.615, "b": 3.615, "c": 3.615,
              "alpha": 90.0, "beta": 90.0, "gamma": 90.0, "volume": 47.24, "esd": {"a": 1e-4, "volume": 4e-3}}
    pdf = {"name": "ni", "source": "Ni.cif", "fixed": False, "space_group": "Fm-3m", "a": 3.52, "b": 3.52, "c": 3.52,
           "alpha": 90.0, "beta": 90.0, "gamma": 90.0, "volume": 43.6, "esd": {"a": 2e-4}, "atom_fraction": 0.3}
    cu, ni = PhaseResult.from_dict(powder), PhaseResult.from_dict(pdf)
    assert (cu.name, cu.structure, cu.a) == ("cu", "Cu", Value(3.615, 1e-4))
    assert (ni.name, ni.structure, ni.extra["atom_fraction"]) == ("ni", "Ni.cif", 0.3)


def test_phases_is_a_read_only_mapping_in_phase_order():
    phases = Phases([_phase("drs"), _phase("cu")])
    assert list(phases) == ["drs", "cu"] and phases["cu"].name == "cu" and len(phases) == 2
    with pytest.raises(KeyError, match="no phase 'x'"):
        phases["x"]  # noqa: B018
    with pytest.raises(TypeError):
        phases["x"] = _phase("x")
    with pytest.raises(ValueError, match="two phases named"):
        Phases([_phase(), _phase()])
    assert pickle.loads(pickle.dumps(phases)) == phases
    frame = phases.to_pandas()
    assert list(frame.index) == ["drs", "cu"] and frame.loc["cu", "a"] == 4.641953
    assert frame.loc["cu", "a_esd"] == 0.000062 and frame["R_Bragg"].isna().all()


def test_phase_line_names_powder_phases_by_structure_and_pdf_phases_by_name():
    assert _phase().line() == "phase DRS (Fm-3m): a=4.64195(6)  V=100.026(4)  wt=70.0(10) %"
    # b and c equal to a with a's esd (a cubic cell as a sequential fit writes it): a alone; a length equal to a
    # with an esd of its own is a refined length of its own and is shown
    a = Value(4.641953, 0.000062)
    assert _phase(b=a, c=Value(a.value, a.esd * (1 + 1e-11))).line() == _phase().line()
    own = _phase(space_group="Pmmm", b=Value(a.value, 0.00009), c=Value(7.1, 0.0001), weight_fraction=None)
    assert own.line() == "phase DRS (Pmmm): a=4.64195(6)  b=4.64195(9)  c=7.10000(10)  V=100.026(4)"
    pdf = _phase(extra={"source": "drs.cif"})
    assert phase_line(pdf.to_dict()).startswith("phase drs (Fm-3m): ")
