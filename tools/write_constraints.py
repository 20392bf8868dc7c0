"""Write the pinned versions of the running environment to the constraints file CI installs from (``make
constraints``): ``pip freeze`` without the project itself, each pin limited to Python >= 3.11 (the CI machine's
CPython; older interpreters resolve within setup.cfg's ranges)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEADER = """\
# Pinned versions CI installs from (make test / make demo use it; make test-latest ignores it).
# Made with 'pip freeze' of a working .venv on the CI machine type (CPython 3.11); the pins apply on Python >= 3.11,
# where these releases have wheels. Refresh: make constraints (then run make test).
"""


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "constraints.txt")
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    pins = [line for line in frozen if "==" in line and not line.lower().startswith("refine")]
    out.write_text(HEADER + "".join(f'{pin} ; python_version >= "3.11"\n' for pin in pins), encoding="utf-8")
    print(f"wrote {len(pins)} pins to {out}")


if __name__ == "__main__":
    main()
