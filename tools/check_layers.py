"""The import-layer contract of the ``refine`` package, checked statically (``make lint``, ``tests/test_layers.py``).

Every module's imports are read with :mod:`ast` — module-level and function-level alike — and each import of a
``refine`` module is checked against :data:`ALLOWED`, the edges the layers permit::

    core (data, units, errors, notation, frozen, registry, instrument, examples, executor, batch_cluster,
          local_workers, gc_scope, progress, the package root)
      -> io, integrate, crystal          (io may read into crystal objects; integrate may use io)
      -> fit                             (fit core and lmfit parameter building)
      -> powder, pdf                     (the engines; bragg_pdf joins them)
      -> operando
      -> api (the facade), example_data  (everything below the command line)
      -> cli
    plot: on the side; may import anything below cli, and only cli and api may import it

A lower layer never imports a higher one. The documented exceptions are in :data:`EXCEPTIONS`: function-level
imports of ``refine.plot`` inside a function named ``plot`` (a result's ``plot()`` method builds its figure
lazily), and the package root's lazy facade (``refine/__init__.py`` importing ``refine.api`` inside its module
``__getattr__``). Besides the layers, the module-level imports inside ``refine`` must form no cycle, and the
modules of :data:`NO_HEAVY` must not import lmfit or matplotlib at all (they are imported by readers and by
``import refine``).

Run ``python tools/check_layers.py [package_dir]``; exit status 1 and one line per violation when the contract is
broken.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Top-level modules of ``refine`` that belong to the core layer (everything else is its own unit).
CORE_MODULES = frozenset({"", "__version__", "data", "units", "errors", "notation", "frozen", "registry",
                          "instrument", "examples", "executor", "batch_cluster", "local_workers", "gc_scope",
                          "progress"})

_CORE = {"core"}
_READ = _CORE | {"io", "crystal", "integrate"}
_FIT = _READ | {"fit"}
_ENGINES = _FIT | {"powder", "pdf", "bragg_pdf"}
_BELOW_CLI = _ENGINES | {"operando", "api", "example_data", "schemas", "plot"}

#: unit -> the units it may import (its own unit always allowed).
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(_CORE),
    "crystal": frozenset(_CORE),
    "io": frozenset(_CORE | {"crystal"}),
    "integrate": frozenset(_CORE | {"io"}),
    "fit": frozenset(_READ),
    "powder": frozenset(_FIT),
    "pdf": frozenset(_FIT),
    "bragg_pdf": frozenset(_FIT | {"powder", "pdf"}),
    "operando": frozenset(_ENGINES),
    "example_data": frozenset(_ENGINES | {"operando"}),
    "schemas": frozenset(_CORE),
    "api": frozenset(_BELOW_CLI),
    "plot": frozenset(_ENGINES | {"operando"}),
    "cli": frozenset(_BELOW_CLI | {"cli"}),
}

#: Modules (dotted names) that must not import lmfit or matplotlib, not even inside functions.
NO_HEAVY = ("refine.crystal", "refine.io.structures", "refine.io.registries", "refine.data", "refine.units")
HEAVY = ("lmfit", "matplotlib")


@dataclass(frozen=True)
class Import:
    """One import statement of a module."""

    module: str  # the importing module (dotted)
    target: str  # the imported module (dotted)
    line: int
    function: str | None  # name of the enclosing function, None at module level (or in a class body)
    path: Path
    typing_only: bool = False  # inside ``if TYPE_CHECKING:`` (never executed: no cycle)


def _exception(imp: Import) -> str | None:
    """The documented reason an import that crosses the layers is allowed, or None."""
    if imp.target.startswith("refine.plot") and imp.function == "plot":
        return "lazy figure in a plot() method"
    if imp.module == "refine" and imp.target.startswith("refine.api") and imp.function is not None:
        return "the package root's lazy facade (module __getattr__)"
    return None


#: The exceptions, as documentation for the report (see :func:`_exception`).
EXCEPTIONS = ("function-level `refine.plot` imports inside a function named `plot` (result classes' plot())",
              "`refine/__init__.py` importing `refine.api` inside a function (the lazy facade __getattr__)")


def module_name(path: Path, package_dir: Path) -> str:
    """Dotted module name of a file of the package."""
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str, package_dir: Path) -> str:
    """The layer unit of a dotted ``refine`` module name."""
    parts = module.split(".")
    first = parts[1] if len(parts) > 1 else ""
    if first in CORE_MODULES:
        return "core"
    return first


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    # ``from refine.io import columns`` may import a submodule: both candidates; :func:`check` keeps the module
    return [f"{prefix}.{a.name}" for a in node.names] if prefix.startswith("refine") else [prefix]


def imports_of(path: Path, package_dir: Path) -> Iterator[Import]:
    """Every import in a file, with the function it sits in."""
    module = module_name(path, package_dir)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def visit(node: ast.AST, function: str | None, typing_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, child.lineno, function, path, typing_only)
            elif isinstance(child, ast.ImportFrom):
                for target in _resolve(child, module, path.name == "__init__.py"):
                    yield Import(module, target, child.lineno, function, path, typing_only)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from visit(child, child.name, typing_only)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from visit(child, function, True)
            else:
                yield from visit(child, function, typing_only)

    yield from visit(tree, None, False)


def _is_module(target: str, package_dir: Path) -> bool:
    rel = Path(*target.split(".")[1:]) if "." in target else Path()
    base = package_dir / rel
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def check(package_dir: Path) -> list[str]:
    """One line per violation of the contract (empty when it holds)."""
    package_dir = package_dir.resolve()
    problems: list[str] = []
    graph: dict[str, set[str]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        for imp in imports_of(path, package_dir):
            where = f"{path.relative_to(package_dir.parent)}:{imp.line}"
            top = imp.target.split(".")[0]
            if top in HEAVY and any(imp.module == m or imp.module.startswith(m + ".") for m in NO_HEAVY):
                problems.append(f"{where}: {imp.module} imports {imp.target} (must stay free of {', '.join(HEAVY)})")
            if top != "refine":
                continue
            target = imp.target
            while target != "refine" and not _is_module(target, package_dir):
                target = target.rsplit(".", 1)[0]  # ``from refine.io.x import name`` -> refine.io.x
            if imp.function is None and not imp.typing_only and target != imp.module:
                graph.setdefault(imp.module, set()).add(target)
            src, dst = unit_of(imp.module, package_dir), unit_of(target, package_dir)
            if src == dst:
                continue
            allowed = ALLOWED.get(src)
            if allowed is None:
                problems.append(f"{where}: {imp.module} belongs to no layer (add '{src}' to ALLOWED)")
                continue
            if dst not in allowed and _exception(imp) is None:
                problems.append(f"{where}: {imp.module} ({src}) imports {target} ({dst}); {src} may import only "
                                f"{', '.join(sorted(allowed))}")
    for comp in _cycles(graph):
        problems.append(f"import cycle (module level): {' <-> '.join(comp)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    package_dir = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "refine"
    problems = check(package_dir)
    for line in problems:
        print(line)
    n_modules = sum(1 for _ in package_dir.rglob("*.py"))
    print(f"check_layers: {n_modules} modules, {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
