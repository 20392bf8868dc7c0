"""Space groups as arrays of symmetry operations (R, t), from diffpy.structure's tables.

A symmetry operation maps fractional coordinates x -> R x + t. Symbols follow diffpy.structure's names (short
Hermann-Mauguin such as ``Pna21``, ``R-3c``, full ``P 1 21/n 1``) or the International Tables number, which
gives the standard setting (the first setting in the International Tables, which is also gemmi's default).
Rhombohedral groups default to hexagonal axes, as in the International Tables; add ``:R`` for rhombohedral axes
(``R-3c:R``) or ``:H`` to be explicit.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from refine.errors import InputError

CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")

# Order of a proper rotation from its trace (1 + 2 cos(2 pi / n)).
_ORDER_FROM_TRACE = {3: 1, -1: 2, 0: 3, 1: 4, 2: 6}


@dataclass(frozen=True, eq=False)
class SpaceGroup:
    """A space group in one setting.

    Attributes
    ----------
    symbol
        Short Hermann-Mauguin symbol (diffpy's ``short_name``; rhombohedral groups get ``:H`` or ``:R``).
    number
        International Tables number (1-230), or 0 when unknown (operations read from a file matching no table).
    rotations
        Integer array (n, 3, 3) of the rotation parts, fractional basis.
    translations
        Array (n, 3) of the translation parts, reduced to [0, 1).
    """

    symbol: str
    number: int
    rotations: np.ndarray = field(repr=False)
    translations: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        rot = np.array(self.rotations, dtype=np.int64).reshape(-1, 3, 3)
        tra = np.mod(np.array(self.translations, dtype=float).reshape(-1, 3), 1.0)
        tra[np.isclose(tra, 1.0, atol=1e-9)] = 0.0
        if len(rot) != len(tra) or len(rot) == 0:
            raise ValueError("a space group needs as many rotations as translations, at least one")
        rot.setflags(write=False)
        tra.setflags(write=False)
        object.__setattr__(self, "rotations", rot)
        object.__setattr__(self, "translations", tra)

    def __len__(self) -> int:
        return len(self.rotations)

    @functools.cached_property  # a frozen group: asked for at every cell constraint of every fit
    def crystal_system(self) -> str:
        """Crystal system from the point group's rotation orders (independent of the setting)."""
        return _crystal_system(self.rotations)

    @functools.cached_property
    def setting(self) -> str:
        """'rhombohedral' for a trigonal group on rhombohedral axes, 'hexagonal' for one on hexagonal axes, else ''."""
        system = self.crystal_system
        if system not in ("trigonal", "hexagonal"):
            return ""
        # A 3-fold along [111] permutes the axes cyclically: rhombohedral axes.
        cyclic = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]])
        has_cyclic = any(np.array_equal(r, cyclic) or np.array_equal(r, cyclic.T) for r in self.rotations)
        return "rhombohedral" if has_cyclic else "hexagonal"

    @functools.cached_property
    def unique_axis(self) -> str:
        """For a monoclinic group, the axis ('a', 'b' or 'c') of its 2-fold or mirror; '' otherwise."""
        if self.crystal_system != "monoclinic":
            return ""
        for r in self.rotations:
            proper = r * int(round(np.linalg.det(r)))
            if np.trace(proper) == -1:  # the 2-fold: its axis is the +1 eigenvector, a lattice vector
                return "abc"[int(np.argmax(np.diag(proper)))]
        raise AssertionError("monoclinic group without a 2-fold")

    @property
    def point_rotations(self) -> np.ndarray:
        """The distinct rotation parts (the point group), shape (m, 3, 3)."""
        return np.unique(self.rotations, axis=0)

    @property
    def centrosymmetric(self) -> bool:
        """True when the point group contains the inversion."""
        return bool(np.any(np.all(self.rotations == -np.eye(3, dtype=int), axis=(1, 2))))

    def triplets(self) -> list[str]:
        """The operations as CIF xyz strings ('-y+1/2, x, z+1/4')."""
        return [_triplet(r, t) for r, t in zip(self.rotations, self.translations, strict=True)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpaceGroup):
            return NotImplemented
        return self.number == other.number and _op_set(self) == _op_set(other)

    def __hash__(self) -> int:
        return hash((self.number, frozenset(_op_set(self))))


def _op_set(sg: SpaceGroup) -> set[tuple]:
    return {
        (tuple(r.ravel()), tuple(np.round(t * 24).astype(int) % 24))
        for r, t in zip(sg.rotations, sg.translations, strict=True)
    }


def _crystal_system(rotations: np.ndarray) -> str:
    counts = {n: 0 for n in (1, 2, 3, 4, 6)}
    for r in np.unique(rotations, axis=0):
        proper = r * int(round(np.linalg.det(r)))
        counts[_ORDER_FROM_TRACE[int(np.trace(proper))]] += 1
    if counts[3] >= 8:
        return "cubic"
    if counts[6]:
        return "hexagonal"
    if counts[3]:
        return "trigonal"
    if counts[4]:
        return "tetragonal"
    if counts[2] >= 3:
        return "orthorhombic"
    if counts[2]:
        return "monoclinic"
    return "triclinic"


def _triplet(r: np.ndarray, t: np.ndarray) -> str:
    parts = []
    for i in range(3):
        s = ""
        for j, v in enumerate("xyz"):
            c = int(r[i, j])
            if c:
                s += ("+" if c > 0 and s else "-" if c < 0 else "") + (f"{abs(c)}*" if abs(c) != 1 else "") + v
        frac = Fraction(float(t[i])).limit_denominator(12)
        if frac:
            s += f"+{frac}"
        parts.append(s)
    return ", ".join(parts)


def from_diffpy(group: object, symbol: str | None = None) -> SpaceGroup:
    """A :class:`SpaceGroup` from a ``diffpy.structure.spacegroups.SpaceGroup`` (e.g. one a CIF parser made)."""
    rot = np.array([op.R for op in group.symop_list])
    tra = np.array([op.t for op in group.symop_list])
    if not np.allclose(rot, np.round(rot)):
        raise ValueError("rotation parts are not integer matrices")
    number = 0 if group.number is None or int(group.number) % 1000 > 230 else int(group.number) % 1000
    name = symbol or str(group.short_name)
    sg = SpaceGroup(symbol=name, number=number, rotations=np.round(rot), translations=tra)
    if sg.setting and name[:1] in "RH" and ":" not in name:
        name = "R" + name[1:] + (":R" if sg.setting == "rhombohedral" else ":H")
        sg = SpaceGroup(symbol=name, number=number, rotations=sg.rotations, translations=sg.translations)
    return sg


def space_group(symbol: str | int, *, source: str = "spacegroup") -> SpaceGroup:
    """The space group of a symbol or number in its standard setting.

    Parameters
    ----------
    symbol
        International Tables number, short or full Hermann-Mauguin symbol (``Pna21``, ``P 21/c``, ``P 1 21/n 1``,
        ``R-3c`` = ``R-3c:H``, ``R-3c:R``), as diffpy.structure knows them.
    source
        Where the symbol came from, for the error message.

    Raises
    ------
    InputError
        The symbol is not a known space group.
    """
    from diffpy.structure.spacegroups import GetSpaceGroup

    origin = re.fullmatch(r"(.*?)\s*:\s*([12])", str(symbol).strip())
    if origin:  # diffpy holds origin choice 1 only; gemmi has both ITA origin choices
        return origin_choice(origin.group(1), int(origin.group(2)), source=source)
    for key in _candidates(symbol):
        try:
            group = GetSpaceGroup(key)
        except ValueError:
            continue
        return from_diffpy(group)
    raise InputError(source, f"unknown space group {symbol!r} (use a number 1-230 or a Hermann-Mauguin symbol)")


def _candidates(symbol: str | int) -> list[str | int]:
    """diffpy identifiers to try, in order, for a user's symbol."""
    if isinstance(symbol, (int, np.integer)) or str(symbol).strip().isdigit():
        number = int(symbol)
        return [number] if 1 <= number <= 230 else []
    text = str(symbol).strip().replace("_", "")
    setting = ""
    match = re.fullmatch(r"(.*?)\s*:\s*([HRhr12])", text)
    if match:
        text, setting = match.group(1), match.group(2).upper()
    compact = text.replace(" ", "")
    if compact[:1].upper() == "R" and setting != "R":
        # diffpy's 'R...' names are rhombohedral axes; its hexagonal-axes twins are called 'H...'.
        compact = "H" + compact[1:]
    out: list[str | int] = [compact, text]
    # Monoclinic short symbols such as 'P21/n' with unique axis b: 'P 1 21/n 1'.
    mono = re.fullmatch(r"([PABCIF])(21|2|m|c|n|a|b|2/m|21/m|2/c|21/c|2/n|21/n|21/a|2/a)", compact, re.IGNORECASE)
    if mono:
        out.append(f"{mono.group(1).upper()}1{mono.group(2)}1")
    return out


def origin_choice(symbol: str, choice: int, *, source: str = "spacegroup") -> SpaceGroup:
    """A group with two origin choices in the International Tables (e.g. Fd-3m, P4/nmm, Pn-3) in origin choice
    ``choice`` (2: origin at a centre of symmetry), operations from gemmi's tables.

    Raises
    ------
    InputError
        The symbol is unknown or has no such origin choice.
    """
    import gemmi

    text = str(symbol).strip().replace("_", "")
    first = gemmi.find_spacegroup_by_name(text)
    group = None
    if first is not None and first.ext in ("1", "2"):
        group = gemmi.find_spacegroup_by_name(f"{first.hm}:{choice}")
    if group is None or group.ext != str(choice):
        raise InputError(source, f"space group {text!r} has no origin choice {choice} (only the 24 "
                                 "centrosymmetric groups listed twice in the International Tables do)")
    ops = list(group.operations())
    rot = np.array([op.rot for op in ops]) // gemmi.Op.DEN
    tra = np.array([op.tran for op in ops]) / gemmi.Op.DEN
    compact = group.hm.replace(" ", "")
    return SpaceGroup(symbol=f"{compact}:{choice}", number=int(group.number), rotations=rot, translations=tra)


def same_operations(a: SpaceGroup, b: SpaceGroup) -> bool:
    """True when the two groups hold the same operations (translations modulo lattice vectors), whatever their
    names and numbers."""
    return _op_set(a) == _op_set(b)


def from_triplets(triplets: list[str], *, source: str = "symmetry operations") -> SpaceGroup:
    """The group generated by CIF xyz operations ('-y+1/2, x, z+1/4', ...): the listed operations closed under
    composition (translations modulo lattice vectors), named as :func:`space_group` names the group with exactly
    these operations (gemmi's Hermann-Mauguin symbol when that differs; number 0, symbol 'listed' for a set that
    is no standard setting)."""
    import gemmi

    try:
        ops = [gemmi.Op(t.replace(" ", "").lower()) for t in triplets]
    except (RuntimeError, ValueError) as err:
        raise InputError(source, f"unreadable symmetry operation: {err}") from None
    group = gemmi.GroupOps(ops) if ops else gemmi.GroupOps([gemmi.Op("x,y,z")])
    # GroupOps splits pure translations off as centring vectors; every operation is sym op + centring
    full = [op.translated(c) for op in group.sym_ops for c in group.cen_ops]
    rot = np.array([op.rot for op in full]) // gemmi.Op.DEN
    tra = np.array([[v % gemmi.Op.DEN for v in op.tran] for op in full]) / gemmi.Op.DEN
    found = gemmi.find_spacegroup_by_ops(group)
    if found is None:
        return SpaceGroup(symbol="listed", number=0, rotations=rot, translations=tra)
    suffix = f":{found.ext}" if found.ext in ("1", "2", "H", "R") else ""
    compact = found.hm.replace(" ", "")
    listed = SpaceGroup(symbol=compact + suffix, number=int(found.number), rotations=rot, translations=tra)
    for name in (compact, compact + suffix):
        try:
            named = space_group(name, source=source)
        except InputError:
            continue
        if same_operations(named, listed):
            return named
    return listed

