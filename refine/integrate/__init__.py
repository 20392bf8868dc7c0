"""2D image -> 1D pattern integration with pyFAI: settings, the reusable integrator, series processing."""

import sys as _sys
import types as _types

from refine.integrate.integrator import Integrator, flip_image
from refine.integrate.series import FrameOutput, integrate_series, output_path
from refine.integrate.settings import IntegrationSettings, resolve_method

__all__ = ["FrameOutput", "IntegrationSettings", "Integrator", "flip_image", "integrate_series", "output_path",
           "resolve_method"]


class _CallablePackage(_types.ModuleType):
    """``refine.integrate`` is this package and, called, the facade function :func:`refine.api.images.integrate`:
    ``refine.integrate("frame.tif", poni="detector.poni")``. (A function of that name on ``refine`` would be replaced
    by the package as soon as anything imports it.)"""

    def __call__(self, *args, **kwargs):
        from refine.api.images import integrate

        return integrate(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        from refine.api.images import integrate

        return inspect.signature(integrate)


_sys.modules[__name__].__class__ = _CallablePackage
