"""The disk copy of xraydb's values: what a second process reads equals what xraydb returns, bit for bit, and it
does not ask xraydb again."""

from __future__ import annotations

import pytest

from refine.crystal.xraydb_cache import ChantlerStore, chantler_from_xraydb, load_waasmaier, waasmaier_from_xraydb


def _never(*_args):
    raise AssertionError("xraydb asked although the copy has the value")


def test_waasmaier_copy_equals_xraydb_and_is_read_back(tmp_path):
    first = load_waasmaier(tmp_path)
    assert first == waasmaier_from_xraydb()
    assert (tmp_path / "waasmaier.json").is_file()
    again = load_waasmaier(tmp_path, compute=_never)
    assert again == first  # every coefficient to the last bit (JSON keeps float repr)
    assert again["O2-"] == first["O2-"] and len(again) > 200


def test_chantler_copy_equals_xraydb_and_is_read_back(tmp_path):
    energy = 12398.419843320026 / 1.5405929  # Cu Kα1
    store = ChantlerStore(tmp_path)
    values = {el: store.get(el, energy) for el in ("Pb", "S", "O", "Ni")}
    for el, pair in values.items():
        assert pair == chantler_from_xraydb(el, energy)
    reread = ChantlerStore(tmp_path, compute=_never)
    assert {el: reread.get(el, energy) for el in values} == values
    # another energy is not in the copy: asked of xraydb and added
    other = ChantlerStore(tmp_path)
    assert other.get("Ni", 8000.0) == chantler_from_xraydb("Ni", 8000.0)
    assert ChantlerStore(tmp_path, compute=_never).get("Ni", 8000.0) == chantler_from_xraydb("Ni", 8000.0)


def test_beyond_chantler_raises_as_xraydb_does(tmp_path):
    with pytest.raises((IndexError, KeyError, ValueError)):
        ChantlerStore(tmp_path).get("Cf", 8000.0)


def test_no_folder_or_unwritable_folder_still_gives_xraydb_values(tmp_path):
    assert ChantlerStore(None).get("Pb", 8047.8) == chantler_from_xraydb("Pb", 8047.8)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert load_waasmaier(blocked / "sub") == waasmaier_from_xraydb()


def test_a_write_that_fails_half_way_leaves_no_temporary_file(tmp_path, monkeypatch):
    """Disk full while the copy is written: nothing raised (the values are still returned by xraydb), and neither
    the copy nor its temporary file is left in the cache folder."""
    from refine.crystal import xraydb_cache

    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xraydb_cache.json, "dump", full)
    xraydb_cache._write(tmp_path / "table.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []
