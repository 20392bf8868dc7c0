"""PDFgetX3 / PDFgetN3 configurations: the PDFgetN3 sapphire example's pdfgetn3.cfg and the mode check."""

from __future__ import annotations

import pytest

from refine.errors import InputError
from refine.io.pdfgetx_config import read_pdfgetx_config
from tests.conftest import shared_path


def test_pdfgetn3_cfg_of_the_sapphire_example():
    cfg = read_pdfgetx_config(shared_path("pdf_reduction", "pdfgetx3_examples", "n-Sapphire", "pdfgetn3.cfg"))
    assert cfg.settings == {"mode": "neutron", "composition": "Al2O3", "qmax": 11.2, "qmaxinst": 11.2, "rmin": 0.0,
                            "rmax": 20.0, "rstep": 0.01, "wavelength": 1.0989, "twothetazero": -0.38}
    assert cfg.dataformat == "twotheta" and cfg.outputs == ("fq", "gr") and cfg.background is None


@pytest.mark.parametrize("mode, ok", [("xray", True), ("Neutron", True), ("sas", False)])
def test_mode(tmp_path, mode, ok):
    path = tmp_path / "pdfgetx3.cfg"
    path.write_text(f"[DEFAULT]\nmode = {mode}\ncomposition = Ni\nqmax = 20\n")
    if ok:
        assert read_pdfgetx_config(path).settings["mode"] == mode.lower()
    else:
        with pytest.raises(InputError, match=r"pdfgetx3.cfg: mode = 'sas': expected one of xray, neutron"):
            read_pdfgetx_config(path)
