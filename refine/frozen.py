"""Pickling for frozen objects that hold read-only mappings (``types.MappingProxyType`` cannot be pickled), so
patterns and instruments can be handed to worker processes (parallel sequential fits, batch reductions); arrays
come back read-only."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np


class PicklableProxies:
    """Mixin: pickles read-only mapping attributes as dicts and restores them read-only."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in self.__dict__.items()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            if isinstance(value, np.ndarray):  # unpickled arrays come back writeable; these objects are frozen
                value.flags.writeable = False
            object.__setattr__(self, key, MappingProxyType(value) if key in self._proxy_fields else value)

    _proxy_fields: tuple[str, ...] = ("metadata",)
