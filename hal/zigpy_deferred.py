"""Fix 11 of :mod:`hal.zigpy_fixes` (``ota_providers_on_first_use``): zigpy's remote OTA providers are
loaded on first use, not whenever zigpy is. This is the part of that module that must run before zigpy is
first imported, so it imports no zigpy itself.

``zigpy.ota`` imports ``zigpy.ota.providers`` at its top, and every zigpy application imports ``zigpy.ota``
(as does ``ota.format``, for zigpy's OTA header parser). The providers module imports aiohttp and
jsonschema and builds three TLS contexts loading the system's CA store (IKEA, Hue, Z2M): about 0.14 s of
every ``hanrig`` start that touches zigpy, a third of the main job's imports. hanrig never uses zigpy's
remote providers (it is its own OTA server, and opens zigpy with OTA disabled), but a user may configure
them. So :func:`defer_ota_providers` puts a finder on ``sys.meta_path`` that gives
``zigpy.ota.providers`` the standard library's ``importlib.util.LazyLoader``: the module object exists at
once, and its code (with aiohttp, jsonschema and the TLS contexts) runs at the first attribute anyone
reads from it, e.g. when zigpy validates an OTA provider's config or registers providers. Nothing else
changes; a zigpy that no longer has the module, or imports names from it eagerly, simply loads it as before.

Why a module of its own: it has to be in place before the first ``import zigpy.ota``, and hanrig reaches
zigpy from several sides (``ota``/``certs``, pure libraries that must not import ``hal``; ``hal.radio``;
``hal.zigpy_fixes`` itself imports zigpy at its top). ``hal/__init__.py`` calls it before anything else
and imports the rest of ``hal`` only on first use, so ``import hal`` is cheap; ``gateway`` and ``rigs``
(the CLI, the pytest plugin and what library users import) ``import hal`` first for that reason. A
program that imports ``ota`` or zigpy before any of them simply loads the providers eagerly.

Python 3.11's LazyLoader takes no lock: two threads reading the module's first attribute at once would
both run it. hanrig's worker threads never touch zigpy's providers.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

DEFERRED_MODULES = frozenset({"zigpy.ota.providers"})


class DeferredModuleFinder:
    """A ``sys.meta_path`` finder that gives ``DEFERRED_MODULES`` a ``LazyLoader`` around their own loader."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None,
                  ) -> ModuleSpec | None:
        if fullname not in DEFERRED_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def defer_ota_providers() -> None:
    """Install the finder (idempotent); it affects only imports that have not happened yet."""
    if not any(isinstance(finder, DeferredModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, DeferredModuleFinder())
