"""integrate_series: one .xye per frame, headers, resume, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fabio.edfimage import EdfFrame, EdfImage
from fabio.tifimage import TifImage

from refine.errors import InputError
from refine.integrate import IntegrationSettings, Integrator, integrate_series, output_path
from refine.io.patterns import read_pattern
from tests.integrate import synthetic as sy

GEOMETRY = sy.Geometry()


@pytest.fixture()
def series(tmp_path):
    """A single-frame TIFF and a 3-frame EDF of Poisson counts, and the PONI."""
    poni = tmp_path / "g.poni"
    poni.write_text(GEOMETRY.poni_text())
    rng = np.random.default_rng(2)
    mean = sy.image(GEOMETRY, polarization=0.95) * 10
    frames = [rng.poisson(mean * (1 + 0.1 * k)).astype(np.int32) for k in range(4)]
    TifImage(data=frames[0]).write(str(tmp_path / "one.tif"))
    edf = EdfImage(data=frames[1])
    for f in frames[2:]:
        edf.append_frame(EdfFrame(data=f))
    edf.write(str(tmp_path / "multi.edf"))
    return poni, [tmp_path / "one.tif", tmp_path / "multi.edf"], frames


def _integrator(poni, **kw):
    return Integrator(poni, IntegrationSettings(**{"npt": 200, "polarization_factor": 0.95, **kw}))


def test_outputs_per_frame_equal_direct_integration(series, tmp_path):
    poni, paths, frames = series
    out = tmp_path / "out"
    integrator = _integrator(poni)
    results = integrate_series(paths, integrator, out, progress=False)
    names = [r.output.name for r in results]
    assert names == ["one.xye", "multi_00000.xye", "multi_00001.xye", "multi_00002.xye"]
    assert [r.frame for r in results] == [None, 0, 1, 2] and not any(r.skipped for r in results)
    for result, frame in zip(results, frames, strict=True):
        written = read_pattern(result.output)
        direct = integrator.integrate(frame)
        np.testing.assert_allclose(written.x, direct.x, rtol=1e-9)  # %.10g in the file
        np.testing.assert_allclose(written.y, direct.y, rtol=1e-9)
        np.testing.assert_allclose(written.sigma, direct.sigma, rtol=1e-9)
        assert written.sigma_source == "file" and written.unit == "2th_deg"
        assert written.wavelength == pytest.approx(sy.WAVELENGTH_A, rel=1e-9)
        header = "\n".join(written.metadata["header"])
        assert "corrections applied: polarization, solid_angle" in header
        assert '"polarization_factor": 0.95' in header and '"dist_m": 0.08' in header
        assert f"fingerprint: {integrator.fingerprint()}" in header


def test_resume_skips_complete_outputs_and_redoes_the_rest(series, tmp_path):
    poni, paths, _ = series
    out = tmp_path / "out"
    integrate_series(paths, _integrator(poni), out, progress=False)
    truncated = output_path(out, paths[1], 1)
    text = truncated.read_text().splitlines()
    truncated.write_text("\n".join(text[:-20]) + "\n")  # an interrupted copy, say
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*.xye")}
    results = integrate_series(paths, _integrator(poni), out, progress=False)
    assert [r.skipped for r in results] == [True, True, False, True]
    assert len(truncated.read_text().splitlines()) == len(text)
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items() if p != truncated)
    # Other settings: nothing is complete any more.
    again = integrate_series(paths, _integrator(poni, npt=150), out, progress=False)
    assert not any(r.skipped for r in again)
    assert len(read_pattern(output_path(out, paths[0], None))) == 150
    forced = integrate_series(paths, _integrator(poni, npt=150), out, progress=False, resume=False)
    assert not any(r.skipped for r in forced)


def test_bad_frame_is_recorded_and_the_series_goes_on(series, tmp_path):
    poni, paths, frames = series
    bad = np.full(GEOMETRY.shape, np.nan, dtype=np.float32)
    edf = EdfImage(data=frames[1].astype(np.float32))
    edf.append_frame(EdfFrame(data=bad))
    edf.write(str(tmp_path / "bad.edf"))
    out = tmp_path / "out"
    sources = [paths[0], tmp_path / "missing.tif", tmp_path / "bad.edf", paths[1]]
    results = integrate_series(sources, _integrator(poni), out, progress=False)
    failed = [(Path(r.source).name, r.frame) for r in results if r.failed]
    assert failed == [("missing.tif", None), ("bad.edf", 1)]
    assert "missing.tif: no such image file" in results[1].error
    assert "bad.edf: image frame 1 holds only NaN" in results[3].error
    assert sorted(p.name for p in out.iterdir()) == ["bad_00000.xye", "multi_00000.xye", "multi_00001.xye",
                                                     "multi_00002.xye", "one.xye"]
    with pytest.raises(InputError, match="missing.tif: no such image file"):
        integrate_series([tmp_path / "missing.tif"], _integrator(poni), out, progress=False, stop_on_error=True)


def test_same_stem_in_two_folders_is_refused(series, tmp_path):
    poni, paths, frames = series
    (tmp_path / "other").mkdir()
    TifImage(data=frames[0]).write(str(tmp_path / "other" / "one.tif"))
    with pytest.raises(InputError, match="same name"):
        integrate_series([paths[0], tmp_path / "other" / "one.tif"], _integrator(poni), tmp_path / "o",
                         progress=False)
    with pytest.raises(InputError, match="one.tif: is given twice"):  # it was integrated twice, silently
        integrate_series([paths[0], paths[0]], _integrator(poni), tmp_path / "o", progress=False)


def test_unwritable_output_is_an_input_error(series, tmp_path):
    poni, paths, _ = series
    out = tmp_path / "out"
    (out / "one.xye").mkdir(parents=True)  # a directory where the pattern should go
    with pytest.raises(InputError, match="one.xye: cannot write the pattern"):
        integrate_series(paths, _integrator(poni), out, progress=False)


def test_integrate_file_gives_one_pattern_per_frame(series):
    poni, paths, frames = series
    integrator = _integrator(poni)
    patterns = integrator.integrate_file(paths[1])
    assert [p.metadata["frame"] for p in patterns] == [0, 1, 2]
    np.testing.assert_allclose(patterns[2].y, integrator.integrate(frames[3]).y, rtol=1e-12)
    (single,) = integrator.integrate_file(paths[0])
    assert single.metadata["frame"] is None and single.metadata["source"] == str(paths[0])
