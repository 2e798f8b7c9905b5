"""The rig file's ``[policies]`` for one-off commands on ``sim://?rig=FILE`` (gas, alerts, ota push,
load control, tenancy, certificates: ``require_cbke``).

A one-off command on a simulated bench follows the same "our rule" numbers as ``hanrig rig run`` on
that rig; on any other radio (or with no rig file) the defaults apply. Command-line options override.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hal
from gateway.policies import Policies
from rigs.rigfile import load_rig

if TYPE_CHECKING:
    from gateway.session import Gateway


def rig_policies(radio_url: str) -> Policies:
    """The ``[policies]`` of the rig file a ``sim://?rig=FILE`` URL names, else the defaults."""
    parsed = hal.parse_radio_url(radio_url)
    if parsed.rig is None:
        return Policies()
    return load_rig(parsed.rig).policies


def apply_rig_cbke(gateway: Gateway, radio_url: str) -> None:
    """Put a one-off command's session under the rig file's ``require_cbke`` (``sim://?rig=FILE``): a Type 1
    device without a CBKE link key then gets no SE service, the command exits 1 naming it."""
    gateway.cbke.policy = rig_policies(radio_url).cbke
