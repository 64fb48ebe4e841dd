"""Compiled loops that load numba only when first called, not when their module is imported.

`import numba` costs ~0.18 s, and `labelrounds.quality` is imported by every command of the CLI (through the
round's steps) while only scoring and consensus run its loops. `@compiled` marks a function for
`numba.njit(cache=True, nogil=True)`; the first call of any marked function of a module turns every marked
function of that module into its numba dispatcher (so loops that call each other compile together) and rebinds
the module's names to them, so later calls go straight to numba.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

Function = TypeVar("Function", bound=Callable[..., Any])

_MARKED: dict[str, list[Callable[..., Any]]] = {}  # module name -> its marked functions, not yet compiled
_REBINDING = threading.Lock()  # a second thread's first call waits until every name of the module is rebound


def compiled(function: Function) -> Function:
    """Mark `function` to run as `numba.njit(cache=True, nogil=True)`, numba loaded at its first call."""
    _MARKED.setdefault(function.__module__, []).append(function)

    @functools.wraps(function)
    def first_call(*args: Any) -> Any:
        _compile_module(function.__module__)
        return getattr(sys.modules[function.__module__], function.__name__)(*args)

    return first_call  # type: ignore[return-value] - same signature


def _compile_module(module_name: str) -> None:
    """Rebind every marked function of the module to its numba dispatcher (compiled lazily by numba itself)."""
    from numba import njit  # deferred on purpose: see the module docstring

    module = sys.modules[module_name]
    with _REBINDING:
        for function in _MARKED.pop(module_name, []):
            setattr(module, function.__name__, njit(cache=True, nogil=True)(function))
