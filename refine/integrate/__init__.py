"""2D image -> 1D pattern integration with pyFAI: settings, the reusable integrator, series processing."""

import sys as _sys

from refine import CallablePackage as _CallablePackage
from refine.integrate.integrator import Integrator, flip_image
from refine.integrate.series import FrameOutput, integrate_series, output_path
from refine.integrate.settings import IntegrationSettings, resolve_method

__all__ = ["FrameOutput", "IntegrationSettings", "Integrator", "flip_image", "integrate_series", "output_path",
           "resolve_method"]


# ``refine.integrate`` is this package and, called, the facade function (see refine.CallablePackage).
_sys.modules[__name__].__class__ = _CallablePackage
