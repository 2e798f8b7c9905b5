"""Zigbee stick discovery: which serial ports look like which stick, its radio type, and the URL to use.

Ports come from pyserial's ``serial.tools.list_ports`` (zigpy's own serial I/O is serialx, which does
not enumerate). A stick is recognised by USB VID:PID, refined by its product/manufacturer strings:
many sticks share a generic USB-UART bridge (Silicon Labs CP210x, WCH CH9102/CH340, FTDI), so a
bridge alone only gives the *likely* radio type, and the result says so. Ports that match nothing
are listed as unknown, never hidden.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol


class PortInfo(Protocol):
    """The fields of pyserial's ``ListPortInfo`` that discovery reads."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    manufacturer: str | None
    product: str | None
    description: str | None


class Confidence(enum.StrEnum):
    """How sure the identification is."""

    IDENTIFIED = "identified"  # VID:PID and product/manufacturer string agree on one stick
    LIKELY = "likely"  # a generic USB-UART bridge: the radio type is a guess
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class _Stick:
    """A known stick: the strings that name it (any one, case-insensitive) and how to open it."""

    name: str
    radio_type: str
    baudrate: int
    markers: tuple[str, ...]
    flow_control: str | None = None


@dataclass(frozen=True)
class _Bridge:
    """A VID:PID and the sticks built on it; ``likely`` is the guess when no string matches."""

    chip: str
    sticks: tuple[_Stick, ...]
    likely: _Stick | None
    note: str


_SKYCONNECT = _Stick(
    "Home Assistant SkyConnect / Connect ZBT-1 (EFR32MG21)",
    "ezsp",
    115200,
    ("skyconnect", "zbt-1", "nabu casa"),
    "hardware",
)
_ZBDONGLE_E = _Stick(
    "Sonoff ZBDongle-E (EFR32MG21)", "ezsp", 115200, ("dongle plus v2", "zbdongle-e", "dongle-e")
)
_ZBDONGLE_P = _Stick("Sonoff ZBDongle-P (CC2652P)", "znp", 115200, ("zbdongle-p", "dongle-p", "dongle plus"))
_CONBEE_2 = _Stick("dresden elektronik ConBee II", "deconz", 115200, ("conbee ii", "conbee 2", "conbee"))
_CONBEE_3 = _Stick("dresden elektronik ConBee III", "deconz", 115200, ("conbee iii", "conbee 3"))
_CONBEE_1 = _Stick("dresden elektronik ConBee", "deconz", 38400, ("conbee", "dresden elektronik"))
_HUSBZB = _Stick("Nortek HUSBZB-1 (EM3581, Zigbee interface)", "ezsp", 57600, ("husbzb", "hubz"))
_EZSP_GENERIC = _Stick("EFR32 EZSP stick", "ezsp", 115200, ())
_ZNP_GENERIC = _Stick("TI CC2652/CC1352 Z-Stack stick", "znp", 115200, ())
_ZZH = _Stick("Electrolama zzh (CC2652R)", "znp", 115200, ("zzh", "electrolama"))
_CC2531 = _Stick("TI CC2531 USB dongle (Z-Stack)", "znp", 115200, ("cc2531",))
_LAUNCHPAD = _Stick("TI LaunchPad CC26x2/CC1352 (XDS110)", "znp", 115200, ("xds110", "launchpad"))

# Strings are matched against product, then manufacturer, then description.
_BRIDGES: dict[tuple[int, int], _Bridge] = {
    (0x10C4, 0xEA60): _Bridge(
        "Silicon Labs CP210x",
        (_SKYCONNECT, _ZBDONGLE_E, _ZBDONGLE_P),
        _EZSP_GENERIC,
        "CP210x bridge: used by EFR32 (EZSP) and CC2652 (ZNP) sticks alike",
    ),
    (0x1A86, 0x55D4): _Bridge(
        "WCH CH9102",
        (_ZBDONGLE_E, _ZBDONGLE_P),
        _EZSP_GENERIC,
        "CH9102 bridge: Sonoff ZBDongle-E is the common one; some CC2652 sticks use it too",
    ),
    (0x1A86, 0x7523): _Bridge(
        "WCH CH340",
        (_ZZH,),
        _ZNP_GENERIC,
        "CH340 bridge: mostly CC2652 (ZNP) boards such as zzh or ZigStar; EFR32 boards exist too",
    ),
    (0x1CF1, 0x0030): _Bridge("dresden elektronik", (_CONBEE_2,), _CONBEE_2, "ConBee II"),
    (0x0403, 0x6015): _Bridge(
        "FTDI FT230X",
        (_CONBEE_3, _CONBEE_1),
        None,
        "FTDI bridge: ConBee and ConBee III use it, as do many non-Zigbee adapters",
    ),
    (0x10C4, 0x8A2A): _Bridge("Silicon Labs HubZ", (_HUSBZB,), _HUSBZB, "Zigbee is one of two interfaces"),
    (0x0451, 0x16A8): _Bridge("TI CC2531", (_CC2531,), _CC2531, "CC2531 with Z-Stack firmware"),
    (0x0451, 0xBEF3): _Bridge("TI XDS110", (_LAUNCHPAD,), _LAUNCHPAD, "TI LaunchPad debug probe UART"),
}


@dataclass(frozen=True)
class DiscoveredPort:
    """One serial port and what it looks like."""

    device: str
    vid: int | None
    pid: int | None
    manufacturer: str | None
    product: str | None
    serial_number: str | None
    description: str | None
    stick: str  # a stick name, "<chip> bridge", or "unknown"
    radio_type: str | None  # ezsp | znp | deconz, or None when unknown
    confidence: Confidence
    url: str | None
    note: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``hanrig radio list`` (hex ids as strings with ``_int`` twins)."""
        return {
            "device": self.device,
            "vid": None if self.vid is None else f"0x{self.vid:04x}",
            "vid_int": self.vid,
            "pid": None if self.pid is None else f"0x{self.pid:04x}",
            "pid_int": self.pid,
            "manufacturer": self.manufacturer,
            "product": self.product,
            "serial_number": self.serial_number,
            "description": self.description,
            "stick": self.stick,
            "radio_type": self.radio_type,
            "confidence": str(self.confidence),
            "url": self.url,
            "note": self.note,
        }


def radio_url(radio_type: str, device: str, baudrate: int, flow_control: str | None = None) -> str:
    """The ``--radio`` URL for a stick on ``device`` (``ezsp:///dev/ttyUSB0?baudrate=115200``)."""
    query = f"baudrate={baudrate}"
    if flow_control:
        query += f"&flow_control={flow_control}"
    return f"{radio_type}://{device}?{query}"


def _matches(stick: _Stick, port: PortInfo) -> bool:
    for text in (port.product, port.manufacturer, port.description):
        if text and any(marker in text.lower() for marker in stick.markers):
            return True
    return False


def identify(port: PortInfo) -> DiscoveredPort:
    """What one port looks like."""

    def result(stick: str, radio: _Stick | None, confidence: Confidence, note: str) -> DiscoveredPort:
        url = (
            None
            if radio is None
            else radio_url(radio.radio_type, port.device, radio.baudrate, radio.flow_control)
        )
        return DiscoveredPort(
            port.device,
            port.vid,
            port.pid,
            port.manufacturer,
            port.product,
            port.serial_number,
            port.description,
            stick,
            None if radio is None else radio.radio_type,
            confidence,
            url,
            note,
        )

    bridge = None if port.vid is None or port.pid is None else _BRIDGES.get((port.vid, port.pid))
    if bridge is None:
        return result(
            "unknown",
            None,
            Confidence.UNKNOWN,
            "not a known Zigbee stick" if port.vid is not None else "not a USB serial port",
        )
    for stick in bridge.sticks:
        if _matches(stick, port):
            return result(stick.name, stick, Confidence.IDENTIFIED, bridge.note)
    if bridge.likely is None:
        return result(f"{bridge.chip} bridge", None, Confidence.UNKNOWN, bridge.note)
    if bridge.likely in bridge.sticks:  # a VID:PID only one stick uses
        return result(bridge.likely.name, bridge.likely, Confidence.IDENTIFIED, bridge.note)
    return result(
        f"{bridge.chip} bridge",
        bridge.likely,
        Confidence.LIKELY,
        f"{bridge.note}; likely {bridge.likely.radio_type}, check the stick's firmware",
    )


def discover(ports: Iterable[PortInfo] | None = None) -> list[DiscoveredPort]:
    """Every serial port (from pyserial unless given), identified, in device order."""
    if ports is None:
        from serial.tools import list_ports

        ports = list_ports.comports()
    return sorted((identify(port) for port in ports), key=lambda found: found.device)
