"""Behaviour areas: one package each (its site view, parsers, services, budgets).

An area registers what the core must know of it when its package is imported: its daemon
kinds (siteproof.daemons.register) and its budgets and thresholds (siteproof.budgets.register).
The core finds every area here by listing this package; adding one edits nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

_loaded: list[str] = []


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


def load_all() -> list[str]:
    """Import every area package once (each registers its daemons and budgets)."""
    if not _loaded:
        _loaded.extend(names())
        for name in _loaded:
            importlib.import_module(f"{__name__}.{name}")
    return list(_loaded)
