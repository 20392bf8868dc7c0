"""InputError messages stay on one line whatever text a third-party library put in them."""

from __future__ import annotations

from refine.errors import InputError


def test_line_breaks_in_a_quoted_library_message_become_spaces():
    err = InputError("a.mask", "cannot read as an image (XMLSyntaxError: bad tag\n  line 1, column 2\r\n)")
    assert "\n" not in str(err) and "\r" not in str(err)
    assert str(err) == "a.mask: cannot read as an image (XMLSyntaxError: bad tag line 1, column 2 )"
    assert err.problem.startswith("cannot read as an image")
