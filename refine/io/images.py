"""2D detector images through fabio: TIFF, CBF, EDF, Eiger/NeXus HDF5 (single- or multi-frame).

Every frame comes out as a 2D ``float32`` array (pyFAI integrates in single precision anyway; counts up to
2**24 are exact). Problems are :class:`~refine.errors.InputError` naming the file and, for a bad frame, the
frame index: a missing or unreadable file, a frame that is empty, not 2D or holds only NaN.

HDF5 files (``.h5``, ``.hdf5``, ``.nxs``, ``.nx``) are opened as Eiger master files when fabio recognises
them, else through the NeXus default plot (``@default`` attributes down to an NXdata ``@signal``), else the
first 2D or 3D numeric dataset. ``path.h5::/entry/data/data`` names a dataset explicitly. Importing
``hdf5plugin`` registers the compression filters (bitshuffle/LZ4, Blosc, ...) that detector files use.
"""

from __future__ import annotations

import bisect
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from refine.errors import InputError

HDF5_SUFFIXES = (".h5", ".hdf5", ".nxs", ".nx", ".hdf")


def _split_dataset(path: str | os.PathLike) -> tuple[Path, str | None]:
    """``file.h5::/entry/data`` -> (file.h5, /entry/data); a plain path -> (path, None)."""
    text = os.fspath(path)
    if "::" in text:
        file, dataset = text.split("::", 1)
        return Path(file), dataset
    return Path(text), None


def _find_hdf5_dataset(path: Path) -> str | None:
    """The NeXus default signal of an HDF5 file, else its first 2D/3D numeric dataset (None when none)."""
    import h5py
    import hdf5plugin  # noqa: F401  (registers compression filters with h5py)

    with h5py.File(path, "r") as fh:
        node = fh
        # NeXus: follow @default from the root to an NXdata group, then its @signal.
        for _ in range(4):
            default = node.attrs.get("default")
            if isinstance(default, bytes):
                default = default.decode()
            if not default or default not in node:
                break
            node = node[default]
        if isinstance(node, h5py.Group):
            signal = node.attrs.get("signal")
            if isinstance(signal, bytes):
                signal = signal.decode()
            if signal and signal in node and isinstance(node[signal], h5py.Dataset):
                return node[signal].name
        found: list[str] = []

        def visit(name: str, obj: object) -> None:
            if (not found and isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3)
                    and obj.dtype.kind in "iuf"):
                found.append(obj.name)

        fh.visititems(visit)
        return found[0] if found else None


def _broken_links(path: Path) -> list[tuple[str, str]]:
    """(link, target file) of the external links of an HDF5 file that do not resolve (Eiger masters link their
    frames from data files beside them)."""
    import h5py

    broken: list[tuple[str, str]] = []
    with h5py.File(path, "r") as fh:
        groups = [fh]
        while groups:
            group = groups.pop()
            for name in group:
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    try:
                        group[name]
                    except (KeyError, OSError):
                        broken.append((f"{group.name.rstrip('/')}/{name}", str(path.parent / link.filename)))
                elif isinstance(link, h5py.HardLink) and isinstance(group[name], h5py.Group):
                    groups.append(group[name])
    return broken


def _open_fabio(path: str | os.PathLike):
    """Open ``path`` with fabio (HDF5 fallbacks as in the module docstring); InputError when impossible."""
    import fabio

    file, dataset = _split_dataset(path)
    if file.is_dir():
        raise InputError(file, f"is a folder; give its image files (e.g. '{file / '*.tif'}', quoted)")
    if not file.is_file():
        raise InputError(file, "no such image file")
    is_hdf5 = file.suffix.lower() in HDF5_SUFFIXES
    if is_hdf5:
        import hdf5plugin  # noqa: F401  (compression filters for Eiger data files)
    try:
        if dataset is not None:
            return fabio.open(f"{file}::{dataset}")
        try:
            return fabio.open(str(file))
        except Exception:
            if not is_hdf5:
                raise
            found = _find_hdf5_dataset(file)
            if found is None:
                broken = _broken_links(file)
                if broken:  # an Eiger master whose data file is missing, truncated or unreadable
                    name, target = broken[0]
                    raise InputError(file, f"its frames are linked ({name}) to {target}, which is missing or "
                                           "cannot be read") from None
                raise InputError(file, "HDF5 file holds no 2D or 3D numeric dataset") from None
            return fabio.open(f"{file}::{found}")
    except InputError:
        raise
    except Exception as exc:  # fabio raises OSError, ValueError, KeyError, ... for files it cannot read
        raise InputError(path, f"cannot read as an image ({type(exc).__name__}: {exc})") from None


def check_frame(data: object, source: str | os.PathLike, frame: int | None = None) -> np.ndarray:
    """Validate one frame and return it as a C-contiguous 2D float32 array.

    Raises
    ------
    InputError
        When the frame is empty, not two-dimensional or holds only NaN.
    """
    where = f" frame {frame}" if frame is not None else ""
    if data is None:
        raise InputError(source, f"image{where} holds no data")
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise InputError(source, f"image{where} is not 2D (shape {arr.shape})")
    if arr.size == 0:
        raise InputError(source, f"image{where} is empty (shape {arr.shape})")
    if arr.dtype.kind not in "iufb":
        raise InputError(source, f"image{where} is not numeric (dtype {arr.dtype})")
    was_float = arr.dtype.kind == "f"  # integer counts cannot be NaN: skip the scan
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if was_float and np.isnan(arr).all():
        raise InputError(source, f"image{where} holds only NaN")
    return arr


def _dataset_starts(image: object) -> list[int] | None:
    """First frame of each dataset of a fabio image that spans several HDF5 datasets (an Eiger master's data
    files, counted as fabio counts them), else None."""
    datasets = getattr(image, "dataset", None)
    if not isinstance(datasets, list) or len(datasets) < 2:
        return None
    starts, total = [], 0
    for ds in datasets:
        starts.append(total)
        total += ds.shape[0] if ds.ndim > 2 else 1
    return starts


def _truncated(image: object, *, single: bool) -> bool:
    """Whether fabio found the data of this frame cut short (EDF: ``incomplete_data``; any format with one frame:
    ``incomplete_file``). fabio pads such data with zeros and only logs it."""
    try:
        return bool(getattr(image, "incomplete_data", False)) or (single and bool(getattr(image, "incomplete_file",
                                                                                            False)))
    except Exception:  # noqa: BLE001 - a format without the notion is not truncated
        return False


class ImageFile:
    """An open image file: ``nframes`` and ``frame(i)``; use as a context manager.

    Parameters
    ----------
    path
        The file (``file.h5::/dataset`` to pick an HDF5 dataset).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._image = _open_fabio(path)
        try:
            self.nframes = int(getattr(self._image, "nframes", 1) or 1)
            self._starts = _dataset_starts(self._image)
        except Exception as exc:
            self.close()
            raise InputError(self.path, f"cannot count frames ({exc})") from None
        self._current: int | None = None

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as a validated 2D float32 array."""
        if not 0 <= index < self.nframes:
            raise InputError(self.path, f"frame {index} out of range (file has {self.nframes})")
        self._leave_dataset(index)
        try:
            # Single-frame formats: getframe(0) would look for a numbered series file next to this one.
            image = self._image if index == 0 else self._image.getframe(index)
            data = image.data
        except Exception as exc:
            raise InputError(self.path, f"frame {index} cannot be read ({type(exc).__name__}: {exc})") from None
        if _truncated(image, single=self.nframes == 1):
            where = f" frame {index}" if self.nframes > 1 else ""
            raise InputError(self.path, f"image{where} is truncated: the file holds fewer data bytes than its header "
                                        "declares (the rest would be read as zeros)")
        return check_frame(data, self.path, index if self.nframes > 1 else None)

    def _leave_dataset(self, index: int) -> None:
        """Empty the chunk cache of the data file this read leaves (Eiger masters: one dataset per data file).

        HDF5 >= 2.0 gives every open dataset an 8 MiB chunk cache and fabio keeps every data file of a master
        open, so a stack's memory grew by 8 MiB per data file read (+80 MB over a 10-file stack); a refresh
        closes and reopens the dataset, which drops its cache.
        """
        if self._starts is None:
            return
        position = bisect.bisect_right(self._starts, index) - 1
        if self._current is not None and self._current != position:
            with contextlib.suppress(Exception):  # only memory is at stake
                self._image.dataset[self._current].refresh()
        self._current = position

    def close(self) -> None:
        """Release the file handle."""
        with contextlib.suppress(Exception):
            self._image.close()

    def __enter__(self) -> ImageFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_frames(path: str | os.PathLike) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame index, 2D float32 array)`` for every frame of an image file.

    Raises
    ------
    InputError
        For a missing or unreadable file, or a frame that is empty, not 2D or NaN-only (names file and frame).
    """
    with ImageFile(path) as image:
        for index in range(image.nframes):
            yield index, image.frame(index)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One 2D float array from a file; a multi-frame file (e.g. a dark series) gives the mean of its frames."""
    total: np.ndarray | None = None
    count = 0
    for _, data in iter_frames(path):
        if total is not None and data.shape != total.shape:
            raise InputError(path, f"frames differ in shape ({total.shape} and {data.shape})")
        total = data.astype(np.float64) if total is None else total + data
        count += 1
    if total is None:
        raise InputError(path, "image file holds no frames")
    return (total / count).astype(np.float32)
