"""What a radio says about itself, from zigpy's standard application state (``app.state``, ``app.devices``):
stack and firmware version, IEEE, NWK, channel, PAN IDs and network state. ``gw.radio_info(radio_id)``
returns it (``hanrig radio info``, the run record's radio firmware); it reads the same for a real stick
and for ``sim://``.
"""

from __future__ import annotations

from typing import Any

from .formatting import fmt_hex

_UNKNOWN_EUI64 = "ff:ff:ff:ff:ff:ff:ff:ff"  # zigpy's EUI64.UNKNOWN / ExtendedPanId.UNKNOWN


def _eui64(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).lower()
    return None if text == _UNKNOWN_EUI64 else text


def _stack_version(metadata: dict[str, Any]) -> str | None:
    """The radio library's stack version from ``network_info.metadata`` (bellows: EZSP protocol)."""
    for section in metadata.values():
        if isinstance(section, dict):
            for key in ("stack_version", "version", "firmware_version"):
                if section.get(key) is not None:
                    return str(section[key])
    return None


def describe_radio(app: Any, url: str) -> dict[str, Any]:
    """What ``radio info`` reports, from zigpy's standard ``app.state`` and ``app.devices``."""
    node = app.state.node_info
    network = app.state.network_info
    extended_pan_id = _eui64(network.extended_pan_id)
    formed = extended_pan_id is not None and network.pan_id != 0xFFFE and network.channel != 0
    pan_id = None if network.pan_id == 0xFFFE else int(network.pan_id)
    return {
        "url": url,
        "stack": network.source,
        "stack_version": _stack_version(network.metadata or {}),
        "firmware_version": node.version,
        "manufacturer": node.manufacturer,
        "model": node.model,
        "ieee": _eui64(node.ieee),
        "nwk": fmt_hex(int(node.nwk)),
        "nwk_int": int(node.nwk),
        "logical_type": node.logical_type.name,
        "network_state": "formed" if formed else "not formed",
        "channel": int(network.channel) or None,
        "pan_id": None if pan_id is None else fmt_hex(pan_id),
        "pan_id_int": pan_id,
        "extended_pan_id": extended_pan_id,
        "nwk_update_id": int(network.nwk_update_id),
        "tx_power": network.tx_power,
        "devices": sum(1 for ieee in app.devices if ieee != node.ieee),
    }


