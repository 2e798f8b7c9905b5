"""Radios: open a zigpy ControllerApplication from a URL (real sticks through bellows / zigpy-znp /
zigpy-deconz, or the built-in simulated HAN in ``hal.sim``), discover sticks on serial ports, and fix
zigpy's Smart Energy gaps in one place. Never imports ``gateway`` or ``rigs``.

``import hal`` only installs the import-order part of the zigpy fixes (``hal.zigpy_deferred``, fix 11 of
``hal.zigpy_fixes``), which must come before anything imports zigpy; the names below (and the submodules
``hal.radio`` imports) load on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .zigpy_deferred import defer_ota_providers

defer_ota_providers()

if TYPE_CHECKING:
    from .radio import (
        RadioConfig,
        RadioUrl,
        new_event_loop,
        open_radio,
        parse_radio_url,
        run,
        wait_for_devices,
    )

__all__ = [
    "RadioConfig",
    "RadioUrl",
    "new_event_loop",
    "open_radio",
    "parse_radio_url",
    "run",
    "wait_for_devices",
]


def __getattr__(name: str) -> Any:
    """What ``import hal`` used to load eagerly: ``hal.radio``'s names, and the submodules it imports."""
    # neither ``from . import radio`` nor ``import hal.radio as radio``: while hal.radio is being imported
    # both would ask this function for ``radio`` again; and not importlib.import_module, which tests patch
    __import__("hal.radio")
    radio = sys.modules["hal.radio"]

    if name in __all__:
        globals()[name] = value = getattr(radio, name)
        return value
    if name in globals():  # a submodule hal.radio imported
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
