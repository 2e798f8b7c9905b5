"""The rig file's ``[policies]`` for one-off commands on ``sim://?rig=FILE`` (gas, alerts, ota push).

A one-off command on a simulated bench follows the same "our rule" numbers as ``hanrig rig run`` on
that rig; on any other radio (or with no rig file) the defaults apply. Command-line options override.
"""

from __future__ import annotations

import hal
from gateway.policies import Policies
from rigs.rigfile import load_rig


def rig_policies(radio_url: str) -> Policies:
    """The ``[policies]`` of the rig file a ``sim://?rig=FILE`` URL names, else the defaults."""
    parsed = hal.parse_radio_url(radio_url)
    if parsed.rig is None:
        return Policies()
    return load_rig(parsed.rig).policies
