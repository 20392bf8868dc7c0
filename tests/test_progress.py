"""refine.progress: no tqdm object (and so no monitor thread, which would stop local workers from being forked)
when no bar is shown."""

from __future__ import annotations

import threading

from refine.progress import NoBar, progress_bar


def test_no_bar_off_a_terminal_or_when_not_shown_and_no_thread_left():
    before = threading.active_count()
    for show in (True, False):  # pytest's stderr is not a terminal
        with progress_bar(10, unit="frame", desc="x", show=show) as bar:
            assert isinstance(bar, NoBar)
            bar.total += 2
            bar.refresh()
            bar.update(1)
        bar.close()
    assert threading.active_count() == before
