"""hyperopt, imported without its adaptive TPE.

hyperopt's package init imports ``hyperopt.atpe`` and through it scipy.stats, about 2 s of
every TPE job's start-up here; nothing in this project uses ATPE. Before hyperopt is first
imported, ``hyperopt.atpe`` is registered as a stand-in that imports the real module the
moment anything reads from it, so ATPE still works for anyone who asks for it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

ATPE = "hyperopt.atpe"


def _defer_atpe() -> None:
    if "hyperopt" in sys.modules or ATPE in sys.modules:
        return
    stand_in = types.ModuleType(ATPE)

    def __getattr__(name: str) -> Any:
        if sys.modules.get(ATPE) is stand_in:
            del sys.modules[ATPE]
        return getattr(importlib.import_module(ATPE), name)

    stand_in.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[ATPE] = stand_in


def hyperopt() -> types.ModuleType:
    """The hyperopt package (its submodules tpe, rand, base, hp are then importable)."""
    _defer_atpe()
    import hyperopt as package

    return package
