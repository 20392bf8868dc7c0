"""One options dataclass per command: the command line's names and defaults, text forms, unknown names refused."""

import inspect

import pytest
from hypothesis import given
from hypothesis import strategies as st

import refine
from refine.api import options as opt
from refine.api import parsing
from refine.cli.main import build_parser
from refine.errors import InputError

#: Command -> (options class, a minimal command line).
COMMANDS = {
    "integrate": (opt.IntegrateOptions, ["integrate", "x.tif", "--poni", "p.poni", "-o", "out"]),
    "calibrate": (opt.CalibrateOptions, ["calibrate", "x.tif", "--calibrant", "CeO2", "--wavelength", "0.4",
                                         "-o", "o.poni"]),
    "lebail": (opt.LebailOptions, ["lebail", "p.xye"]),
    "pawley": (opt.PawleyOptions, ["pawley", "p.xye"]),
    "rietveld": (opt.RietveldCommandOptions, ["rietveld", "p.xye"]),
    "simulate": (opt.SimulateOptions, ["simulate", "a.cif", "--wavelength", "1", "--range", "5:10", "-o", "s.xye"]),
    "pdf fit": (opt.PdfFitOptions, ["pdf", "fit", "g.gr", "--phase", "a.cif", "--qmax", "20"]),
    "pdf reduce": (opt.PdfReduceOptions, ["pdf", "reduce", "i.chi", "-o", "g.gr"]),
    "sequential": (opt.SequentialOptions, ["sequential", "p.xye", "-o", "out"]),
}
#: Options the minimal command line above sets itself.
GIVEN = {"simulate": {"range", "output"}, "pdf reduce": {"output"}}


@pytest.mark.parametrize("command", COMMANDS)
def test_the_command_line_uses_the_dataclass_names_and_defaults(command):
    """Every field is an argparse dest of the command, and parsing a minimal command line gives the dataclass
    defaults (after the dataclass parses the text forms)."""
    cls, argv = COMMANDS[command]
    args = build_parser().parse_args(argv)
    from_cli, default = cls.from_namespace(args), cls()
    for name in cls.names():
        if name not in GIVEN.get(command, ()):
            assert getattr(from_cli, name) == getattr(default, name), (command, name)


@pytest.mark.parametrize("func", ["integrate", "calibrate", "lebail", "pawley", "rietveld", "simulate", "pdf_reduce",
                                  "pdf_fit", "sequential", "phase", "read_pattern", "read_structure"])
def test_at_most_eight_explicit_arguments(func):
    params = [p for p in inspect.signature(getattr(refine, func)).parameters.values()
              if p.kind is not inspect.Parameter.VAR_KEYWORD]
    assert len(params) <= 8


@pytest.mark.parametrize("func, args", [
    ("lebail", ("p.xye", "a.cif")), ("rietveld", ("p.xye", "a.cif")), ("simulate", ("a.cif",)),
    ("pdf_fit", ("g.gr", "a.cif")), ("sequential", ("*.xye", "a.cif")), ("integrate", ("x.tif",)),
])
def test_an_unknown_keyword_is_refused_naming_it_before_any_file_is_read(func, args):
    kwargs = {"qmax": 20} if func == "pdf_fit" else {"poni": "p.poni"} if func == "integrate" else {}
    with pytest.raises(InputError, match=f"^rnage: unknown option of refine.{func}; known: "):
        getattr(refine, func)(*args, rnage="5:60", **kwargs)


def test_text_forms_and_values_give_the_same_options():
    text = opt.RietveldCommandOptions(range="5:60", exclude=["10:11", "20:21"], refine="scale,cell",
                                      constrain=["a_b=1"], po_axis="1 1 0", restrain=["x+y=1:0.1"],
                                      restrain_bond=["Na1-O1=2.4:0.01"], background="chebyshev:8")
    values = opt.RietveldCommandOptions(range=(5, 60), exclude=[(10, 11), (20, 21)], refine=["scale", "cell"],
                                        constrain=[("a_b", "1")], po_axis=(1, 1, 0), restrain=[("x+y", 1, 0.1)],
                                        restrain_bond=[(("Na1", "O1"), 2.4, 0.01)], background=text.background)
    assert text == values
    assert text.range == (5.0, 60.0) and text.refine == ("scale", "cell") and text.background.nterms == 8
    assert opt.LebailOptions(exclude=(10, 11)).exclude == ((10.0, 11.0),)  # one range for the list of ranges


@pytest.mark.parametrize("kwargs, name, problem", [
    ({"range": "60:5"}, "range", "empty range"),
    ({"range": "x"}, "range", "expected LO:HI"),
    ({"constrain": ["nonsense"]}, "constrain", "expected NAME=EXPR"),
    ({"background": "bogus:3"}, "background", "unknown background"),
    ({"plot_hkl": -1}, "plot_hkl", "whole number"),
    ({"plot_hkl": 3}, "plot_hkl", "give plot"),
])
def test_a_bad_value_names_the_option(kwargs, name, problem):
    with pytest.raises(InputError, match=f"^{name}: .*{problem}"):
        opt.LebailOptions(**kwargs)


def test_the_command_line_shows_its_flag_for_an_option_the_library_names():
    from refine.cli.main import cli_message, flag_of

    assert flag_of("range") == "--range" and flag_of("exclude_phase") == "--exclude-phase"
    assert flag_of("output") == "-o" and flag_of("phases") == "--phase" and flag_of("outputs") == "--output"
    assert flag_of("/data/range.xye") == "/data/range.xye" and flag_of("--json") == "--json"
    assert cli_message(InputError("refine", "unknown group 'x'")) == "--refine: unknown group 'x'"


def test_numbers_and_flags_given_as_text_are_read_as_the_command_line_reads_them():
    got = opt.SequentialOptions(workers="2", chunk="4", idle="5", restart_each="no", follow="yes",
                                active_mass="5.2", x0="3", bank=2.0)
    assert (got.workers, got.chunk, got.idle, got.restart_each, got.follow) == (2, 4, 5.0, False, True)
    assert (got.active_mass, got.x0, got.bank) == (5.2, 3.0, 2)
    assert isinstance(got.workers, int) and isinstance(got.idle, float)
    for field, bad, message in (("workers", "two", "whole number"), ("workers", 2.5, "whole number"),
                                ("workers", 0, ">= 1"), ("chunk", -1, ">= 0"), ("idle", -1, "positive"),
                                ("idle", "soon", "a number"), ("restart_each", "maybe", "true or false"),
                                ("active_mass", True, "number"), ("x0", [3], "number")):
        with pytest.raises(InputError, match=message) as info:
            opt.SequentialOptions(**{field: bad})
        assert info.value.source == field


@given(st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False))
def test_coerce_reads_the_text_of_any_number(whole, real):
    assert parsing.coerce("int", str(whole)) == whole and parsing.coerce("int | None", whole) == whole
    assert parsing.coerce("float", repr(real)) == real and parsing.coerce("float", whole) == float(whole)
    assert parsing.coerce("str | None", whole) == whole  # other fields as given


@pytest.mark.parametrize(("command", "cls", "without_flag"), [
    ("sequential", opt.SequentialOptions, set()),
    ("parametric", opt.ParametricOptions, set()),
    ("operando", None, set(opt.SEQUENTIAL_PDF_ONLY)),  # operando fits powder patterns only
])
def test_every_option_of_the_series_commands_has_its_flag(command, cls, without_flag):
    """The Python options of a series command are all on its command line (operando lacked --scheduler and the
    ion-content flags)."""
    import argparse

    if cls is None:
        from refine.api.stack import OperandoOptions

        cls = OperandoOptions
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    flagged = {a.dest for a in sub._actions if a.option_strings}
    missing = set(cls.names()) - flagged - without_flag
    assert not missing, sorted(missing)
