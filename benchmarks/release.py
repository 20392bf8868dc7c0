"""A released ``refine`` next to the working tree, for back-to-back speed comparisons.

``release_python("8715dad")`` exports that commit of this repository (``git archive``) and installs it, with the
pins of that commit's ``constraints.txt``, into a scratch venv cached under ``~/.cache/refine-bench`` (or
``$REFINE_BENCH_CACHE``); it returns the venv's interpreter. The first call takes a minute or two (pip, from the
package index); later calls reuse the venv. ``best_seconds(cmd)`` runs a whole process several times and returns
the fastest wall time (the machine may be shared: run the peer and the working tree back to back).

Usage from a benchmark::

    from release import release_python, best_seconds
    old = release_python("8715dad")
    t_old = best_seconds([str(old.parent / "refine"), "lebail", ...])   # the venv's console script
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """Where scratch venvs of released commits are kept."""
    return Path(os.environ.get("REFINE_BENCH_CACHE", Path.home() / ".cache" / "refine-bench"))


def _full_commit(commit: str) -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def release_python(commit: str, *, python: str = sys.executable) -> Path:
    """Interpreter of a venv holding ``refine`` as of ``commit`` (built once, then cached).

    Parameters
    ----------
    commit
        Any git revision of this repository (``"8715dad"``).
    python
        Interpreter that creates the venv (same minor version as the working tree's, so the pins apply).

    Returns
    -------
    Path
        ``<venv>/bin/python``; ``<venv>/bin/refine`` beside it is that release's command line (not
        ``python -m refine.cli.main``: that runs a second copy of the module, without its sub-commands).
    """
    full = _full_commit(commit)
    venv = cache_dir() / f"release-{full[:12]}"
    interpreter = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return interpreter
    source = venv / "src"
    source.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", full],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(source, filter="data")
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pins = ["-c", str(source / "constraints.txt")] if (source / "constraints.txt").exists() else []
    subprocess.run([str(interpreter), "-m", "pip", "install", "--quiet", *pins, str(source)], check=True)
    (venv / ".complete").write_text(full + "\n")
    return interpreter


def best_seconds(cmd: list[str], *, repeat: int = 3, cwd: str | os.PathLike | None = None,
                 env: dict[str, str] | None = None) -> float:
    """Fastest wall time of ``repeat`` runs of a whole process (raises if the process fails)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


if __name__ == "__main__":
    print(release_python(sys.argv[1] if len(sys.argv) > 1 else "8715dad"))
