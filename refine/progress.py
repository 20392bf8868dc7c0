"""Progress bars: tqdm's on a terminal, none elsewhere.

No tqdm object is made when no bar is shown: tqdm's, even disabled, starts a monitor thread that outlives it, and a
process with a second thread can no longer fork local workers (:func:`refine.local_workers.fork_available`).
"""

from __future__ import annotations

import sys
from typing import Any


class NoBar:
    """The bar when none is shown: tqdm's calls, doing nothing."""

    total: int | None = 0

    def __enter__(self) -> NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def refresh(self) -> None:
        """Nothing to show."""

    def update(self, n: int = 1) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


def progress_bar(total: int | None, *, unit: str, desc: str, show: bool = True) -> Any:
    """A tqdm bar on stderr when ``show`` and stderr is a terminal, else a :class:`NoBar`."""
    if not (show and sys.stderr.isatty()):
        return NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency, but a bar is not essential
        return NoBar()
    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr)
