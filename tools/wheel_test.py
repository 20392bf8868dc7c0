"""Install the built wheel in a new venv outside the clone and run ``refine demo`` there (``make wheel-test``).

What a user gets from ``pip install refine-diffraction``: the console script, the bundled example data, the demo
from any folder. Exits non-zero (and says which step failed) when any of it does not work.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path


def _run(cmd: list[str], cwd: Path) -> None:
    print("$", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, cwd=cwd)
    if done.returncode != 0:
        sys.exit(f"wheel-test: '{' '.join(cmd)}' exited {done.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wheel-dir", default="dist")
    parser.add_argument("--constraints", default="constraints.txt")
    args = parser.parse_args()
    wheels = sorted(Path(args.wheel_dir).resolve().glob("refine_diffraction-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"wheel-test: expected one refine_diffraction wheel in {args.wheel_dir}, found {len(wheels)}")
    constraints = Path(args.constraints).resolve()
    with tempfile.TemporaryDirectory(prefix="refine-wheel-test-") as tmp:
        work = Path(tmp)
        venv = work / "venv"
        _run([sys.executable, "-m", "venv", str(venv)], work)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        _run([*pip, "-c", str(constraints), str(wheels[0])], work)
        _run([str(venv / "bin" / "refine"), "--version"], work)
        # The result file's JSON Schema is package data: it must be in the wheel.
        _run([str(venv / "bin" / "python"), "-c", "from refine.schemas import result_schema; "
              "assert result_schema()['title'] == 'refine.result/1'"], work)
        _run([str(venv / "bin" / "refine"), "demo", "-o", "demo_output"], work)
        made = sorted(p.name for p in (work / "demo_output").glob("*.json"))
        if not made:
            sys.exit("wheel-test: refine demo wrote no result file")
        print(f"wheel-test: {wheels[0].name} installed in a new venv; refine demo exit 0 in {work}; results {made}")


if __name__ == "__main__":
    main()
