"""``refine.pdf_reduce`` from Python: the generator's I(Q) in, curves back, nothing written, ``plot()`` a Figure."""

import numpy as np
import pytest

import refine


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    from refine.example_data import make_example_iq

    folder = tmp_path_factory.mktemp("iq")
    files = make_example_iq.make(folder)
    before = sorted(p.name for p in folder.iterdir())
    result = refine.pdf_reduce(files["iq"], composition="Na3V2O5", qmax=24, background=files["background"])
    return result, before, folder


def test_nothing_written_and_first_peak_at_the_rock_salt_distance(reduced):
    result, before, folder = reduced
    assert sorted(p.name for p in folder.iterdir()) == before and result.written == ()
    gr = result.gr
    near = (gr.x > 1.8) & (gr.x < 2.8)
    # the simulation's cation-O distance a/2 = 2.321 A; the r grid is 0.01 A and Qmax 24 keeps the peak sharp
    assert gr.x[near][np.argmax(gr.y[near])] == pytest.approx(4.642 / 2, abs=0.03)


def test_plot_returns_a_figure_and_keeps_the_backend(reduced):
    import matplotlib
    from matplotlib.figure import Figure

    backend = matplotlib.get_backend()
    fig = reduced[0].plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert [ax.get_ylabel() for ax in fig.axes][-1].startswith("G(r)")
    assert matplotlib.get_backend() == backend
