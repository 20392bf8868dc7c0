"""refine: X-ray powder diffraction and PDF structure refinement.

The facade (one import, the command line's option names and defaults)::

    import refine
    fit = refine.lebail("pattern.xye", [refine.phase("Fm-3m", "4.65 4.65 4.65 90 90 90", name="drs")],
                        wavelength=0.1173)
    print(fit.report())

``refine.read_pattern``, ``read_structure``, ``phase``, ``integrate``, ``calibrate``, ``lebail``, ``pawley``,
``rietveld``, ``simulate``, ``pdf_reduce``, ``pdf_fit``, ``pdf_diff``, ``pdf_calc``, ``sequential``, ``identify``,
``operando`` and ``parametric`` are loaded on first use (module ``__getattr__``), so ``import refine`` stays light:
it loads neither lmfit, matplotlib nor pyFAI.
"""

__version__ = "0.1.0"

import types as _types  # noqa: E402

from refine.data import Pattern  # noqa: E402
from refine.errors import InputError, RefineError  # noqa: E402

#: The facade functions, each defined in a module of refine.api (see refine.api.FUNCTIONS).
_FACADE = ("read_pattern", "read_structure", "phase", "integrate", "calibrate", "lebail", "pawley", "rietveld",
           "simulate", "pdf_reduce", "pdf_fit", "pdf_diff", "pdf_calc", "sequential", "identify", "operando",
           "parametric")

__all__ = ["Pattern", "InputError", "RefineError", "__version__", *_FACADE]


class CallablePackage(_types.ModuleType):
    """The class of the subpackage ``refine.integrate``: still the package, and called, the facade function
    :func:`refine.api.images.integrate` (``refine.integrate("frame.tif", poni="detector.poni")``). A function of that
    name on ``refine`` would be replaced by the package as soon as anything imports it."""

    def _facade(self):
        from refine import api

        return getattr(api, self.__name__.rsplit(".", 1)[-1])  # refine.integrate -> refine.api.integrate ...

    def __call__(self, *args, **kwargs):
        return self._facade()(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        return inspect.signature(self._facade())


def __getattr__(name: str):
    if name in ("integrate", "operando"):  # subpackages, callable as the facade function of their name
        import importlib

        return importlib.import_module(f"refine.{name}")
    if name in _FACADE:
        from refine import api

        return getattr(api, name)
    raise AttributeError(f"module 'refine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
