"""Radios: open a zigpy ControllerApplication from a URL (real sticks through bellows / zigpy-znp /
zigpy-deconz, or the built-in simulated HAN in ``hal.sim``), discover sticks on serial ports, and fix
zigpy's Smart Energy gaps in one place. Never imports ``gateway`` or ``rigs``.
"""

from .radio import RadioConfig, RadioUrl, new_event_loop, open_radio, parse_radio_url, run, wait_for_devices

__all__ = [
    "RadioConfig",
    "RadioUrl",
    "new_event_loop",
    "open_radio",
    "parse_radio_url",
    "run",
    "wait_for_devices",
]
