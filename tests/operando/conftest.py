"""Shared fixtures: the synthetic operando series written once, and one sequential run over it that is first
interrupted at scan 3 and then resumed (so every scan is fitted exactly once in the whole session)."""

from __future__ import annotations

import dataclasses

import pytest

from refine.crystal.lattice import Lattice
from refine.instrument import Instrument, Profile
from refine.io.structures import read_structure
from refine.operando.sequential import FIT_KINDS, Presence, SequentialSettings, run_sequential, scan_result_path
from refine.operando.series import Series
from refine.powder.background import Background
from refine.powder.model import PowderOptions
from tests.conftest import data_file
from tests.operando import series_data as sd

INTERRUPT_AT = 3


def phases():
    """Main NASICON phase started 0.1 % off the first scan's cell, second phase 0.1 % off its cell."""
    base = read_structure(data_file("Na3V2PO43_NASICON.cif"))
    return [base.replace(name="nvp", lattice=Lattice(sd.A0 * 1.001, sd.A0 * 1.001, sd.C0 * 0.999, 90, 90, 120)),
            base.replace(name="nvp2", lattice=Lattice(sd.A2 * 1.001, sd.A2 * 1.001, sd.C2 * 0.999, 90, 90, 120))]


def instrument():
    return Instrument.synchrotron(sd.WAVELENGTH, profile=Profile(U=1.0, V=-0.3, W=0.5, X=0.5, Y=1.0, sh_l=0.002))


def settings(**changes):
    base = SequentialSettings(kind="lebail", powder=PowderOptions(background=Background("chebyshev", nterms=4)),
                              presence=(Presence("nvp2", sd.SECOND_FROM),))
    return dataclasses.replace(base, **changes)


class Interrupt(KeyboardInterrupt):
    """Stands for a user pressing Ctrl-C (or a killed job) in the middle of a scan."""


def counting_kind(log: list, *, interrupt_at: int | None = None, fail_at: int | None = None,
                  unconverged_at: int | None = None, name: str = "lebail"):
    """A registry entry logging (scan index, starting params) of each fit; raises at ``interrupt_at`` /
    ``fail_at`` and marks the fit of ``unconverged_at`` as not converged."""
    real = FIT_KINDS.get(name)

    def fit(pattern, phases, instrument, **kw):
        index = int(pattern.source.rsplit("_", 1)[1].split(".")[0])
        log.append((index, kw["params"]))
        if index == interrupt_at:
            raise Interrupt
        if index == fail_at:
            raise RuntimeError("simulated failure")
        result = real.fit(pattern, phases, instrument, **kw)
        return dataclasses.replace(result, converged=False) if index == unconverged_at else result

    return dataclasses.replace(real, fit=fit)


@pytest.fixture(scope="session")
def series_paths(tmp_path_factory):
    return sd.write_series(tmp_path_factory.mktemp("operando") / "data")


@pytest.fixture(scope="session")
def sequential_run(series_paths, tmp_path_factory):
    """(result of the resumed run, out dir, fits of the interrupted run, files present after the interruption,
    fits of the resumed run)."""
    out = tmp_path_factory.mktemp("sequential")
    series = Series.from_paths(series_paths)
    first: list = []
    with pytest.raises(Interrupt):
        run_sequential(series, phases(), instrument(), settings(), out,
                       kind=counting_kind(first, interrupt_at=INTERRUPT_AT))
    present = [scan_result_path(out, s).is_file() for s in series]
    second: list = []
    result = run_sequential(series, phases(), instrument(), settings(), out, kind=counting_kind(second))
    return result, out, first, present, second
