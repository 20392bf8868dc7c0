"""The PDFgetX3 configuration reader (pdfgetx3.cfg, .gr headers) under fuzzing: settings or a one-line InputError."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refine.errors import InputError
from refine.io.pdfgetx_config import PDFgetConfig, read_pdfgetx_config
from tests.fuzzing import fuzz_inputs, fuzz_settings, read_or_refuse

SEEDS = (
    b"## Template configuration file for pdfgetx3.\n[DEFAULT]\ndataformat = QA\nbackgroundfile = kapton.chi\n"
    b"datapath =\nbgscale = 0.4\ncomposition = Ni\nmode = xray\nqmin = 0.85\nqmax = 25.0\nqmaxinst = 29\n"
    b"rpoly = 0.9\nrmin = 0.0\nrmax = 30.0\nrstep = 0.01\noutputtype = gr, sq\n[custom]\nqmax = 20\n",
    b"[PDF]\n# xPDFsuite header\nwavelength = 0.1827\ndataformat = twotheta\ncomposition = Si0.9 Ni0.1\n"
    b"bgscale = auto\nqmaxinst = 24.5\nqmax = 22\n#### start data\n#L r(A) G(A^-2)\n1.00 0.1\n1.01 0.2\n",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_pdfgetx")
    (folder / "kapton.chi").write_text("0.5 10\n1.0 12\n")
    return folder


@fuzz_settings()
@given(data=fuzz_inputs(SEEDS), section=st.sampled_from([None] * 5 + ["custom", "PDF"]))
def test_fuzz_pdfgetx_config(folder, data, section):
    path = folder / "pdfgetx3.cfg"
    config = read_or_refuse(lambda p: read_pdfgetx_config(p, section=section), path, data)
    if config is not None:
        assert isinstance(config, PDFgetConfig) and config.source == str(path)
        assert all(math.isfinite(v) for v in config.settings.values() if isinstance(v, float))
        assert config.background is None or config.background.is_file()


def test_byte_order_mark(tmp_path):
    """A UTF-8 BOM before '[DEFAULT]' made configparser report 'File contains no section headers'."""
    path = tmp_path / "pdfgetx3.cfg"
    path.write_bytes(b"\xef\xbb\xbf[DEFAULT]\ncomposition = Ni\nqmax = 25\n")
    assert read_pdfgetx_config(path).settings == {"composition": "Ni", "qmax": 25.0}


def test_continuation_line_keeps_the_message_on_one_line(tmp_path):
    """An indented line continues the value before it (INI syntax): 'dataformat' then holds a line break, which the
    message must not print as one (found by fuzzing)."""
    path = tmp_path / "pdfgetx3.cfg"
    path.write_text("[DEFAULT]\nqmax = 25\ndataformat = twotheta\n = Si\n")
    with pytest.raises(InputError, match=r"dataformat = 'twotheta\\n= Si': expected one of") as info:
        read_pdfgetx_config(path)
    assert "\n" not in str(info.value)
