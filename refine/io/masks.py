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


#: Mask formats by suffix: Dioptas (TIFF, as Dioptas saves ``.mask``), pyFAI (EDF, pyFAI-calib2's ``.edf``), numpy.
MASK_FORMATS = {".mask": "dioptas", ".tif": "dioptas", ".tiff": "dioptas", ".edf": "pyfai", ".npy": "numpy"}


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> Path:
    """Write a boolean mask (True = masked) as 1/0: Dioptas ``.mask``/``.tif`` (TIFF, uint8), pyFAI ``.edf``
    (int8) or ``.npy`` (bool); the format follows the suffix.

    Raises
    ------
    InputError
        Unknown suffix or a mask that is not 2D.
    """
    import fabio

    from refine.io.atomic import atomic_open
    from refine.io.outputs import check_output

    path = Path(path)
    kind = MASK_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(path, f"unknown mask format {path.suffix!r}; use one of {', '.join(MASK_FORMATS)}")
    data = np.asarray(mask, dtype=bool)
    if data.ndim != 2:
        raise InputError(path, f"mask is not 2D (shape {data.shape})")
    if kind == "numpy":
        with atomic_open(path, "wb") as fh:
            np.save(fh, data)
        return path
    image = fabio.tifimage.TifImage(data=data.astype(np.uint8)) if kind == "dioptas" else \
        fabio.edfimage.EdfImage(data=data.astype(np.int8))
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:  # fabio writes to a file name only: write beside, then move into place
        image.write(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def combine_masks(masks: list[np.ndarray]) -> np.ndarray:
    """The union (logical or) of masks of one shape (InputError naming both shapes otherwise)."""
    if not masks:
        raise InputError("mask", "no mask to combine")
    out = np.zeros(np.shape(masks[0]), dtype=bool)
    for m in masks:
        check_shape("mask", np.shape(m), out.shape)
        out |= np.asarray(m, dtype=bool)
    return out
