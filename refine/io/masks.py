"""Detector masks: ``True`` = pixel excluded from integration (pyFAI's convention: nonzero = masked).

Accepted: any image fabio reads (nonzero = masked), numpy ``.npy`` arrays, and Dioptas ``.mask`` files
(TIFF images, nonzero = masked).
"""

from __future__ import annotations

import os
from pathlib import Path
from tokenize import TokenError

import numpy as np

from refine.errors import InputError
from refine.io.images import ImageFile
from refine.io.paths import check_regular_file


def check_shape(source: str | os.PathLike, shape: tuple[int, ...], detector_shape: tuple[int, ...] | None,
                what: str = "mask") -> None:
    """InputError naming both shapes when ``shape`` differs from ``detector_shape`` (None: nothing to check)."""
    if detector_shape is not None and tuple(shape) != tuple(detector_shape):
        raise InputError(source, f"{what} shape {tuple(shape)} does not match the detector shape "
                                 f"{tuple(detector_shape)}")


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as a boolean array (True = masked).

    Parameters
    ----------
    path
        ``.npy``, Dioptas ``.mask`` or any image fabio reads.
    shape
        Detector shape the mask must have (rows, columns); None skips the check.

    Raises
    ------
    InputError
        Missing or unreadable file, not 2D, non-finite values, or shape mismatch (both shapes named).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such mask file")
    check_regular_file(path, kind="mask")  # a folder, a device such as /dev/zero, a pipe
    if path.suffix.lower() == ".npy":
        try:
            # memory-mapped: a header declaring more data than the file holds is an error, not an allocation
            data = np.array(np.load(path, mmap_mode="r", allow_pickle=False))
        except (OSError, ValueError, EOFError, SyntaxError, TokenError, ArithmeticError, TypeError) as exc:
            # numpy reads the header as a Python literal: junk raises any of these (a huge shape: OverflowError)
            problem = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise InputError(path, f"cannot read as a numpy .npy mask ({problem})") from None
    else:  # Dioptas .mask files are TIFFs; fabio identifies them by content
        with ImageFile(path) as image:
            if image.nframes != 1:
                raise InputError(path, f"a mask must have one frame, file has {image.nframes}")
            data = image.frame(0)
    data = np.asarray(data)
    if data.ndim != 2:
        raise InputError(path, f"mask is not 2D (shape {data.shape})")
    if data.dtype.kind not in "biuf":
        raise InputError(path, f"mask is not numeric (dtype {data.dtype})")
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise InputError(path, "mask holds NaN or infinite values")
    check_shape(path, data.shape, shape)
    return data != 0
