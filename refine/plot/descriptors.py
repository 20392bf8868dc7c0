"""Figure of local-structure descriptors: bond-length, bond-angle and coordination-number histograms."""

from __future__ import annotations

import numpy as np

from refine.plot.figures import new_figure


def descriptor_figure(result):
    """Three panels: bond lengths per species pair, bond angles per triplet, coordination numbers per pair.

    Parameters
    ----------
    result
        A :class:`refine.pdf.descriptors.LocalStructure`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure(figsize=(12, 4))
    ax_len, ax_ang, ax_cn = fig.subplots(1, 3)
    for name, values in sorted(result.bond_lengths.items()):
        ax_len.hist(values, bins=60, histtype="step", label=name)
    ax_len.set_xlabel("bond length (Å)")
    ax_len.set_ylabel("bonds")
    for name, values in sorted(result.angles.items()):
        ax_ang.hist(values, bins=90, range=(0, 180), histtype="step", label=name)
    ax_ang.set_xlabel("bond angle (deg)")
    for name, values in sorted(result.coordination.items()):
        counts = np.bincount(np.asarray(values, int))
        ax_cn.plot(np.arange(len(counts)), counts / max(counts.sum(), 1), "o-", label=name)
    ax_cn.set_xlabel("coordination number")
    ax_cn.set_ylabel("fraction of centres")
    for ax in (ax_len, ax_ang, ax_cn):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fig.suptitle(f"local structure, {result.frames} frame(s)")
    fig.tight_layout()
    return fig
