"""Instrument parameter files: real GSAS .prm files, GSAS-II .instprm text, round trips and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refine.errors import InputError
from refine.instrument import Instrument, Profile
from refine.io.instprm import INSTRUMENT_READERS, read_instrument, write_instrument
from tests.conftest import shared_path
from tests.test_instrument import instruments

RIETVELD = "powder_rietveld"


# --- real GSAS .prm files: expected values read by hand from each file's text ----------------------------------
def test_pbso4_xray_prm():
    # INS  1 ICONS  1.540500  1.544300       0.0         0       0.7    0       0.5
    # INS  1PRCF1     3    8      0.01
    # INS  1PRCF11   2.000000E+00  -2.000000E+00   5.000000E+00   0.100000E+00      (GU GV GW GP)
    # INS  1PRCF12   0.000000E+00   0.000000E+00   0.150000E-01   0.150000E-01      (LX LY S/L H/L)
    ins = read_instrument(shared_path(RIETVELD, "gsas2_PbSO4_CPD_xray_neutron", "INST_XRY.PRM"))
    assert ins.radiation == "xray"
    assert (ins.wavelength, ins.wavelength2, ins.ka2_ratio) == (1.5405, 1.5443, 0.5)
    assert (ins.zero, ins.polarization, ins.azimuth) == (0.0, 0.7, 0.0)
    assert ins.geometry == "bragg_brentano"  # a doublet: GSAS-II's rule
    p = ins.profile
    assert (p.U, p.V, p.W, p.X, p.Y, p.Z) == (2.0, -2.0, 5.0, 0.0, 0.0, 0.0)
    assert p.sh_l == pytest.approx(0.03, abs=1e-15)
    assert ins.metadata["gsas_profile_type"] == 3
    assert ins.metadata["gsas_profile_coefficients"][3] == 0.1  # GP, kept in metadata only
    assert ins.source.endswith("INST_XRY.PRM")
    assert Instrument.from_dict(json.loads(json.dumps(ins.to_dict()))).metadata["gsas_profile_coefficients"][3] == 0.1


def test_pbso4_d1a_neutron_prm():
    # INS   HTYPE   PNCR
    # INS  1 ICONS  1.909000  0.000000      -0.1         0       0.0    0       0.0
    # INS  1PRCF1     1    6      0.01        (Gaussian type 1: first set is the default)
    # INS  1PRCF11   0.354031E+03  -0.760404E+03   0.651592E+03   0.000000E+00
    ins = read_instrument(shared_path(RIETVELD, "gsas2_PbSO4_CPD_xray_neutron", "inst_d1a.prm"))
    assert ins.radiation == "neutron"
    assert ins.wavelength == 1.909 and ins.wavelength2 is None and ins.ka2_ratio == 0.0
    assert ins.zero == pytest.approx(-0.001, abs=1e-15)  # -0.1 centidegrees
    assert ins.geometry == "debye_scherrer"
    assert (ins.profile.U, ins.profile.V, ins.profile.W) == (354.031, -760.404, 651.592)
    assert (ins.profile.X, ins.profile.Y, ins.profile.sh_l) == (0.0, 0.0, 0.002)
    assert ins.pyfai_polarization_factor is None


def test_sucrose_11bm_prm():
    # INS  1 ICONS 0.4132590    0.0000    0.0000               0.990    0     0.500
    # INS  1PRCF11       1.163000      -0.126000       0.063000   0.000000E+00
    # INS  1PRCF12       0.173000       0.000000       0.001100       0.001100
    ins = read_instrument(shared_path(RIETVELD, "gsas2_sucrose_LeBail_11BM", "11bmb_8716.prm"))
    assert ins.radiation == "xray"
    assert ins.wavelength == 0.413259 and ins.wavelength2 is None
    assert ins.ka2_ratio == 0.0  # KRATIO 0.5 is ignored without a second wavelength
    assert (ins.polarization, ins.zero) == (0.99, 0.0)
    assert ins.geometry == "debye_scherrer"
    p = ins.profile
    # GSAS-II's own default instprm for "APS 30keV 11BM" has the same U, V, W
    assert (p.U, p.V, p.W, p.X, p.Y) == (1.163, -0.126, 0.063, 0.173, 0.0)
    assert p.sh_l == pytest.approx(0.0022, abs=1e-15)
    assert ins.metadata["instrument_name"] == "APS11BM"


def test_fluorapatite_prm_differs_from_pbso4_only_in_asymmetry():
    fap = read_instrument(shared_path(RIETVELD, "gsas2_fluorapatite_lab_CuKa", "INST_XRY.PRM"))
    pbso4 = read_instrument(shared_path(RIETVELD, "gsas2_PbSO4_CPD_xray_neutron", "INST_XRY.PRM"))
    # README: "differs from the PbSO4 copy only in one profile line" (S/L = H/L = 0.010 instead of 0.015)
    assert fap.profile.sh_l == pytest.approx(0.02, abs=1e-15)
    assert fap.replace(profile={"sh_l": pbso4.profile.sh_l}) == pbso4


def test_every_shared_prm_reads():
    root = shared_path(RIETVELD, "gsas2_PbSO4_CPD_xray_neutron", "INST_XRY.PRM").parents[1]
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".prm")
    assert len(files) >= 4
    for path in files:
        ins = read_instrument(path)
        assert 0.1 < ins.wavelength < 3.0


#: A lab Cu Kα doublet .prm in GSAS's card layout (profile type 3, the values of the PbSO4 test above).
LAB_PRM = """INS   BANK      1
INS   HTYPE   PXCR
INS  1 ICONS  1.540500  1.544300       0.0         0       0.7    0       0.5
INS  1PRCF1     3    8      0.01
INS  1PRCF11   2.000000E+00  -2.000000E+00   5.000000E+00   0.100000E+00
INS  1PRCF12   0.000000E+00   0.000000E+00   0.150000E-01   0.150000E-01
"""


def test_hand_written_lab_prm_reads_like_the_pbso4_file(tmp_path):
    path = tmp_path / "lab.prm"
    path.write_text(LAB_PRM)
    ins = read_instrument(path)
    assert (ins.wavelength, ins.wavelength2, ins.ka2_ratio, ins.polarization) == (1.5405, 1.5443, 0.5, 0.7)
    assert (ins.profile.U, ins.profile.V, ins.profile.W) == (2.0, -2.0, 5.0)
    assert ins.profile.sh_l == pytest.approx(0.03, abs=1e-15) and ins.geometry == "bragg_brentano"


def _prm_variant(tmp_path: Path, old: str, new: str, name: str = "v.prm") -> Path:
    text = LAB_PRM
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


def test_prm_ipola_1_is_a_monochromator(tmp_path):
    k = math.cos(math.radians(26.6)) ** 2  # POLA = cos^2(2theta_m) for IPOLA = 1
    path = _prm_variant(tmp_path, "       0.7    0       0.5", f"{k:10.6f}    1       0.5")
    ins = read_instrument(path)
    assert ins.monochromator_angle == pytest.approx(26.6, abs=1e-3)
    assert ins.polarization == pytest.approx(1 / (1 + k), abs=1e-6)


def test_prm_tof_and_bad_numbers_raise(tmp_path):
    with pytest.raises(InputError, match="time-of-flight"):
        read_instrument(_prm_variant(tmp_path, "PXCR", "PNTR"))
    with pytest.raises(InputError, match=r"v\.prm: .*not a number"):
        read_instrument(_prm_variant(tmp_path, "1.540500", "1.5x0500"))
    with pytest.raises(InputError, match="profile type 5"):
        read_instrument(_prm_variant(tmp_path, "INS  1PRCF1     3", "INS  1PRCF1     5"))
    with pytest.raises(InputError, match="coefficients"):
        read_instrument(_prm_variant(tmp_path, "INS  1PRCF1     3    8", "INS  1PRCF1     3   12"))
    with pytest.raises(InputError, match="bank 2"):
        read_instrument(_prm_variant(tmp_path, "PXCR", "PXCR"), bank=2)
    with pytest.raises(InputError, match=r"v\.prm: profile SH/L"):
        read_instrument(_prm_variant(tmp_path, "0.150000E-01   0.150000E-01", "-0.150000E-01  -0.150000E-01"))


def _synthetic_prm(tmp_path: Path, ptype: int, coeffs: list[float]) -> Path:
    cards = [coeffs[i:i + 4] for i in range(0, len(coeffs), 4)]
    lines = ["INS   BANK      1", "INS   HTYPE   PXCR",
             "INS  1 ICONS  0.700000  0.000000       0.0         0      0.95    0       0.0",
             f"INS  1PRCF1     {ptype}   {len(coeffs):2d}      0.01"]
    lines += [f"INS  1PRCF1{j}" + "".join(f"{c:15.6E}" for c in card) for j, card in enumerate(cards, start=1)]
    path = tmp_path / f"type{ptype}.prm"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_gsas_profile_types_2_and_4(tmp_path):
    # type 2: GU GV GW LX LY trns asym shft GP ... (Howard asymmetry: SH/L gets GSAS-II's default 0.002)
    t2 = read_instrument(_synthetic_prm(tmp_path, 2, [3.0, -1.0, 2.0, 1.5, 4.0, 0.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0]))
    assert (t2.profile.U, t2.profile.V, t2.profile.W, t2.profile.X, t2.profile.Y) == (3.0, -1.0, 2.0, 1.5, 4.0)
    assert t2.profile.sh_l == 0.002
    # type 4: GU GV GW GP LX ptec trns shft sfec S/L H/L eta ...
    t4 = read_instrument(_synthetic_prm(tmp_path, 4, [3.0, -1.0, 2.0, 0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.01, 0.02,
                                                      0.5]))
    assert (t4.profile.U, t4.profile.X, t4.profile.Y) == (3.0, 1.5, 0.0)
    assert t4.profile.sh_l == pytest.approx(0.03, abs=1e-15)
    assert t4.wavelength == 0.7 and t4.polarization == 0.95


# --- GSAS-II .instprm text (as in GSAS-II's defaultIparms.py) ---------------------------------------------------
CUKA_INSTPRM = """#GSAS-II instrument parameter file for lab CuKa data
Type:PXC
Lam1:1.5405;Lam2:1.5443;Zero:0.0;Polariz.:0.7;Azimuth:0.0;I(L2)/I(L1):0.5
U:2.0;V:-2.0;W:5.0;X:0.0;Y:0.0;SH/L:0.002
"""

D1A_INSTPRM = """#GSAS-II instrument parameter file
Type:PNC
Lam:1.909;Zero:0.0;Polariz.:0.0;Azimuth:0.0
U:257.182710995;V:-640.525145369;W:569.378664828
X:0.0;Y:0.0;SH/L:0.002
"""


def test_read_gsas2_default_files(tmp_path):
    (tmp_path / "cu.instprm").write_text(CUKA_INSTPRM)
    cu = read_instrument(tmp_path / "cu.instprm")
    assert (cu.radiation, cu.wavelength, cu.wavelength2, cu.ka2_ratio) == ("xray", 1.5405, 1.5443, 0.5)
    assert cu.polarization == 0.7 and cu.geometry == "bragg_brentano"
    assert cu.profile == Profile(U=2.0, V=-2.0, W=5.0, X=0.0, Y=0.0, Z=0.0, sh_l=0.002)
    (tmp_path / "d1a.instprm").write_text(D1A_INSTPRM)
    d1a = read_instrument(tmp_path / "d1a.instprm")
    assert (d1a.radiation, d1a.wavelength, d1a.wavelength2, d1a.geometry) == ("neutron", 1.909, None, "debye_scherrer")
    assert d1a.profile.U == 257.182710995


def test_read_diff_type_and_banks(tmp_path):
    text = ("#GSAS-II instrument parameter file; do not add/delete items!\n"
            "#Bank 1: GSAS-II instrument parameter file; do not add/delete items!\n"
            "  Type:PXC\n  Bank:1.0\n  Lam:0.5\n  Zero:0.0\n  Polariz.:0.99\n  Azimuth:0.0\n"
            "  U:1.0\n  V:-0.1\n  W:0.05\n  X:0.0\n  Y:0.0\n  Z:0.0\n  SH/L:0.002\n  Diff-type:Bragg-Brentano\n"
            "#Bank 2: GSAS-II instrument parameter file; do not add/delete items!\n"
            "  Type:PXC\n  Bank:2.0\n  Lam:0.6\n  Zero:0.0\n  Polariz.:0.99\n  Azimuth:0.0\n"
            "  U:1.0\n  V:-0.1\n  W:0.05\n  X:0.0\n  Y:0.0\n  Z:0.0\n  SH/L:0.002\n")
    path = tmp_path / "two.instprm"
    path.write_text(text)
    first = read_instrument(path)
    assert first.wavelength == 0.5 and first.geometry == "bragg_brentano"
    assert read_instrument(path, bank=2).wavelength == 0.6
    with pytest.raises(InputError, match="bank 3"):
        read_instrument(path, bank=3)


@pytest.mark.parametrize(("text", "word"), [
    ("#GSAS-II instrument parameter file\nType:PNT\nfltPath:10;2-theta:90.0;Azimuth:0.0\n", "time-of-flight"),
    ("#GSAS-II instrument parameter file\nType:PXE\n", "not supported"),
    (CUKA_INSTPRM.replace("U:2.0;", ""), "'U'"),
    (CUKA_INSTPRM.replace("Lam2:1.5443;", ""), "'Lam2'"),
    (CUKA_INSTPRM.replace("W:5.0", "W:five"), "W: not a number"),
    (CUKA_INSTPRM.replace("W:5.0", "W:nan"), "finite"),
    (CUKA_INSTPRM.replace("Polariz.:0.7", "Polariz.:7"), "Polariz"),
    (CUKA_INSTPRM.replace("SH/L:0.002", "SH/L:-0.002"), "SH/L"),
    (CUKA_INSTPRM.replace("Type:PXC", "Type PXC"), "name:value"),
    ("Type:PXC\nLam:1.0\n", "GSAS-II"),
    ("", "GSAS-II"),
])
def test_bad_instprm_raise_input_error_naming_the_file(tmp_path, text, word):
    path = tmp_path / "bad.instprm"
    path.write_text(text)
    with pytest.raises(InputError, match=word) as info:
        read_instrument(path)
    assert str(info.value).startswith(str(path))


# --- round trip -------------------------------------------------------------------------------------------------
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(instruments())
def test_instprm_write_read_round_trip(tmp_path, ins):
    path = tmp_path / "out.instprm"
    write_instrument(ins, path)
    back = read_instrument(path)
    assert back == ins  # exact: values are written with repr
    assert back.source == str(path)
    assert [p.name for p in tmp_path.iterdir() if p.name != "out.instprm"] == []  # no temporary left behind


def test_written_file_is_gsas2_style(tmp_path):
    path = tmp_path / "lab.instprm"
    write_instrument(Instrument.lab("Cu", monochromator_angle=26.6), path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#GSAS-II instrument parameter file")
    params = [ln for ln in lines[1:] if not ln.startswith("#")]
    keys = [ln.split(":")[0] for ln in params]
    for key in ("Type", "Lam1", "Lam2", "I(L2)/I(L1)", "Zero", "Polariz.", "Azimuth", "U", "V", "W", "X", "Y", "Z",
                "SH/L"):
        assert key in keys
    # GSAS-II stops at the first comment after the parameters: our own tags must come last
    first_tag = next(i for i, ln in enumerate(lines) if ln.startswith("#refine:"))
    assert all(not ln.startswith("#") or ln.startswith("#refine:") for ln in lines[first_tag:])
    assert first_tag == len(params) + 1


# --- junk and dispatch ------------------------------------------------------------------------------------------
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=400) | st.sampled_from(["#GSAS-II\n", "INS   HTYPE   PXCR\n"]).flatmap(
    lambda head: st.text(alphabet=st.sampled_from(list("INSPRCF0123456789 .:;-+eE\n#LamUVWXY/()")), max_size=400)
    .map(lambda body: head + body)), ext=st.sampled_from([".instprm", ".prm"]))
def test_random_text_raises_only_input_error(tmp_path, text, ext):
    path = tmp_path / f"junk{ext}"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        ins = read_instrument(path)
    except InputError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert isinstance(ins, Instrument)


def test_binary_junk(tmp_path):
    path = tmp_path / "x.prm"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="x.prm"):
        read_instrument(path)


def test_dispatch_errors(tmp_path):
    with pytest.raises(InputError, match="unknown instrument file extension '.xyz'"):
        read_instrument(tmp_path / "a.xyz")
    with pytest.raises(InputError, match="no such file"):
        read_instrument(tmp_path / "missing.instprm")
    with pytest.raises(InputError, match="cannot write"):
        write_instrument(Instrument.synchrotron(0.5), tmp_path / "a.prm")
    with pytest.raises(InputError, match="unknown instrument file extension"):
        write_instrument(Instrument.synchrotron(0.5), tmp_path / "a.txt")
    assert set(INSTRUMENT_READERS.names()) == {"gsas_prm", "instprm"}
    # explicit format wins over the extension
    (tmp_path / "cu.txt").write_text(CUKA_INSTPRM)
    assert read_instrument(tmp_path / "cu.txt", format="instprm").wavelength == 1.5405
