"""Typed, frozen configuration of the simulated HAN, parsed from a rig file or the built-in default bench.

Owns the rig-file tables ``[sim]``, ``[[faults]]`` and ``[devices.sim]``, and reads ``id``/``role``/
``eui64``/``radio`` of each ``[[devices]]`` entry (the other device keys belong to ``rigs/rigfile.py``).
Unknown keys in the owned tables are rejected; every error names the file, the key path and, where
tomllib reports one, the line. Paths resolve relative to the rig file's directory.
With no rig file, :func:`default_bench` is the fixed five-device bench of the shared design.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zigpy.types as zigpy_t

from certs.exceptions import InvalidInstallCode
from certs.install_code import parse_install_code
from hanrig_errors import (
    CERT_MAX,
    RIG_ARRAY_TABLES,
    RIG_FILE_MAX,
    BadInputFile,
    TomlReader,
    TomlSyntaxError,
    parse_eui64,
    parse_toml,
    read_input,
    read_input_text,
)

from ..roles import Role
from .cbke import CbkeFault
from .credentials import CellNameError, CredentialsFault, parse_cell_name
from .drlc import LoadControlMode
from .exceptions import SimConfigError
from .ota_client import OtaFault

COORDINATOR_IEEE = zigpy_t.EUI64.convert("00:0d:6f:00:0a:bc:00:00")
SIM_MANUFACTURER_CODE = 0x1234


# OTA image types of the simulated devices (shared design: manufacturer code 0x1234).
DEFAULT_IMAGE_TYPES: dict[Role, int] = {
    Role.IHD: 0x0101,
    Role.PPMID: 0x0084,
    Role.HCALCS: 0x0103,
    Role.ESME: 0x0000,
    Role.GSME: 0x0001,
}

DEFAULT_BENCH_EUI64: dict[Role, str] = {
    Role.ESME: "00:0d:6f:00:0a:bc:00:01",
    Role.GSME: "00:0d:6f:00:0a:bc:00:02",
    Role.IHD: "00:0d:6f:00:0a:bc:00:03",
    Role.PPMID: "00:0d:6f:00:0a:bc:00:04",
    Role.HCALCS: "00:0d:6f:00:0a:bc:00:05",
}


class ClockMode(enum.StrEnum):
    """How a virtual device keeps time (GSME clock scenarios)."""

    SYNCHRONISED = "synchronised"  # reads the hub's Time cluster and tracks it
    DRIFTING = "drifting"  # synchronised once, then runs fast by drift_s_per_hour
    UNSYNCHRONISED = "unsynchronised"  # never reads the hub; runs from its own (wrong) epoch
    ABSENT = "absent"  # no clock: timestamps are reported as invalid


class GbcsFault(enum.StrEnum):
    """What a simulated meter's GBCS responses get wrong (the values of ``gbcs.device.MeterFault``)."""

    NONE = "none"
    BAD_MAC = "bad_mac"
    STALE_COUNTER = "stale_counter"
    WRONG_TARGET = "wrong_target"


class OtaProfile(enum.StrEnum):
    """Which OTA client behaviour a device follows (see ``ota_client.py``)."""

    ZCL = "zcl"  # plain ZCL OTA Upgrade client
    GBCS = "gbcs"  # also checks the GBCS supplier signature when a supplier key is configured


MAX_HOPS = 3  # routes the simulated PAN models: direct, or through one or two routers


@dataclass(frozen=True)
class DeviceSimParams:
    """How one virtual device behaves (rig file ``[devices.sim]``)."""

    firmware_version: int = 0x00010000
    hardware_version: int = 1
    manufacturer_code: int = SIM_MANUFACTURER_CODE
    image_type: int | None = None  # None: the role's default
    max_data_size: int = 64
    min_block_period_ms: int = 0
    page_request: bool = False
    page_size: int = 1024
    sleepy: bool | None = None  # None: sleepy only for GSME
    poll_interval_s: float = 7.5
    clock: ClockMode = ClockMode.SYNCHRONISED
    drift_s_per_hour: float = 0.0
    time_sync_delay_s: float = 60.0
    alert_rate_hz: float = 0.0
    gas_push_interval_s: float = 1800.0
    processing_ms: float = 0.0
    hops: int = 1  # radio hops between the coordinator and the device (1 = direct; relays = hops - 1)
    query_jitter_s: float = 5.0
    ota_profile: OtaProfile = OtaProfile.ZCL
    supplier_public_key: bytes | None = None  # PEM or DER bytes of the supplier's OTA signing key
    accept_downgrade: bool = False  # take an image older than the running one when the server offers it
    ota_fault: OtaFault = OtaFault.NONE  # "permissive": a broken client for the negative OTA tests
    trust_anchors: Mapping[str, bytes] = field(default_factory=dict)  # ESME cells: name -> DER
    device_certificates: Mapping[str, bytes] = field(default_factory=dict)  # ESME: "DS"/"KA" -> DER
    credentials_fault: CredentialsFault = CredentialsFault.NONE  # see hal/sim/credentials.py
    fault_cells: Mapping[str, bytes] = field(default_factory=dict)  # cells the credentials fault installs
    gbcs_fault: GbcsFault = GbcsFault.NONE  # what the meter's GBCS responses get wrong (gbcs.device)
    # The meter's GBCS side (``hal.sim.tunnel.GbcsResponder``), made per boot; set by whoever assembles
    # the bench (``gateway.bench``), never by a rig file: ``hal`` does not speak GBCS itself.
    gbcs_meter: Callable[[], Any] | None = field(default=None, compare=False, repr=False)
    load_control: LoadControlMode = LoadControlMode.DRLC  # HCALCS: see hal/sim/drlc.py
    wrong_install_code: bool = False  # the fault: the device holds another code than its label's
    cbke_suite: int = 2  # Type 1 devices: the CBKE crypto suite they initiate (0: no CBKE)
    cbke_fault: CbkeFault = CbkeFault.NONE  # see hal/sim/cbke.py
    model: str | None = None
    manufacturer: str = "hanrig-sim"


@dataclass(frozen=True)
class DeviceSpec:
    """One virtual device: identity from ``[[devices]]``, behaviour from ``[devices.sim]``."""

    id: str
    role: Role
    eui64: zigpy_t.EUI64
    radio: str | None = None
    sim: DeviceSimParams = field(default_factory=DeviceSimParams)
    install_code: bytes | None = None  # printed on the device (code and CRC); it joins only with its key

    @property
    def image_type(self) -> int:
        return self.sim.image_type if self.sim.image_type is not None else DEFAULT_IMAGE_TYPES[self.role]

    @property
    def sleepy(self) -> bool:
        return self.sim.sleepy if self.sim.sleepy is not None else self.role is Role.GSME

    @property
    def model(self) -> str:
        return self.sim.model or f"SIM-{self.role.value}"


class FaultKind(enum.StrEnum):
    """Faults the virtual PAN can inject (rig file ``[[faults]]`` or ``VirtualHan.inject``)."""

    DROP = "drop"
    CORRUPT = "corrupt"
    DELAY = "delay"
    REBOOT = "reboot"
    LEAVE = "leave"
    REJOIN = "rejoin"
    UNPLUG = "unplug"
    ALERT_STORM = "alert_storm"
    CLOCK_DRIFT = "clock_drift"


class Direction(enum.StrEnum):
    """Which frames a frame fault applies to, seen from the coordinator."""

    BOTH = "both"
    TO_DEVICE = "to_device"
    FROM_DEVICE = "from_device"


_COMMON_FAULT_KEYS = {"kind", "device", "after_s"}
_FRAME_FAULT_KEYS = {"probability", "direction", "cluster", "count", "duration_s"}
FAULT_KEYS: dict[FaultKind, set[str]] = {
    FaultKind.DROP: _COMMON_FAULT_KEYS | _FRAME_FAULT_KEYS,
    FaultKind.CORRUPT: _COMMON_FAULT_KEYS | _FRAME_FAULT_KEYS,
    FaultKind.DELAY: _COMMON_FAULT_KEYS | _FRAME_FAULT_KEYS | {"delay_s"},
    FaultKind.REBOOT: _COMMON_FAULT_KEYS | {"at_offset", "duration_s"},
    FaultKind.LEAVE: _COMMON_FAULT_KEYS,
    FaultKind.REJOIN: _COMMON_FAULT_KEYS | {"duration_s"},
    FaultKind.UNPLUG: _COMMON_FAULT_KEYS | {"duration_s"},
    FaultKind.ALERT_STORM: _COMMON_FAULT_KEYS | {"rate_hz", "duration_s"},
    FaultKind.CLOCK_DRIFT: _COMMON_FAULT_KEYS | {"drift_s_per_hour"},
}
DEVICE_FAULTS = {
    FaultKind.REBOOT,
    FaultKind.LEAVE,
    FaultKind.REJOIN,
    FaultKind.ALERT_STORM,
    FaultKind.CLOCK_DRIFT,
}


@dataclass(frozen=True)
class FaultSpec:
    """One fault. Frame faults (drop/corrupt/delay) match frames; the others are events at ``after_s``."""

    kind: FaultKind
    device: str | None = None  # device id; None = every device (frame faults) / the stick
    after_s: float = 0.0  # when the fault becomes active, seconds after the PAN starts
    probability: float = 1.0
    direction: Direction = Direction.BOTH
    cluster: int | None = None
    count: int | None = None  # frame faults: stop after this many frames
    duration_s: float | None = None  # frame faults: active window; unplug/rejoin/reboot: time away
    delay_s: float = 0.0
    at_offset: int | None = None  # reboot: when the OTA client has stored this many bytes
    rate_hz: float = 10.0
    drift_s_per_hour: float = 60.0


@dataclass(frozen=True)
class SimSettings:
    """The virtual PAN (rig file ``[sim]``)."""

    seed: int = 1
    clock: str = "virtual"  # virtual | real
    host_link_baudrate: int = 0
    frame_loss: float = 0.0
    air_model: bool = True  # False: zero latency (host-cost measurements)
    aps_security: bool = False
    start_time: str = "2026-01-01T00:00:00+00:00"  # device clocks' epoch before they sync


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulated HAN needs: settings, devices and faults."""

    settings: SimSettings = field(default_factory=SimSettings)
    devices: tuple[DeviceSpec, ...] = ()
    faults: tuple[FaultSpec, ...] = ()
    source: str = "<default bench>"

    def device(self, device_id: str) -> DeviceSpec:
        for spec in self.devices:
            if spec.id == device_id:
                return spec
        raise SimConfigError(self.source, "devices", f"no device with id {device_id!r}")

    def replace(self, **changes: Any) -> SimConfig:
        return dataclasses.replace(self, **changes)


def default_bench(settings: SimSettings | None = None) -> SimConfig:
    """The built-in bench: one device per role with the shared design's fixed EUI-64s."""
    devices = tuple(
        DeviceSpec(id=role.value.lower(), role=role, eui64=zigpy_t.EUI64.convert(eui))
        for role, eui in DEFAULT_BENCH_EUI64.items()
    )
    return SimConfig(settings=settings or SimSettings(), devices=devices)


# ---------------------------------------------------------------- rig-file parsing

_SETTINGS_KEYS = {f.name for f in dataclasses.fields(SimSettings)}
_DEVICE_SIM_KEYS = {f.name for f in dataclasses.fields(DeviceSimParams)} - {"gbcs_meter"}
BASIC_STRING_MAX = 32  # ZCL Basic ManufacturerName / ModelIdentifier: character string of 0..32 octets


class _Reader(TomlReader):
    """The shared typed reads of a rig file, plus the simulator's own value kinds; errors are
    ``SimConfigError`` and files resolve against the rig file's directory."""

    def __init__(self, source: str, base: Path, text: str | None = None) -> None:
        super().__init__(source, text, SimConfigError, RIG_ARRAY_TABLES)
        self.base = base

    def instant(self, path: str, value: Any) -> str:
        """An ISO 8601 date-time with a UTC offset (the simulated clocks' epoch)."""
        text = self.string(path, value, empty_ok=True)
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise self.error(path, f"{text!r} is not an ISO 8601 date-time (2026-01-01T00:00:00Z)") from None
        if when.tzinfo is None:
            raise self.error(path, f"{text!r} has no UTC offset (add Z or +00:00)")
        if not 2000 <= when.year <= 2135:  # ZCL UTCTime counts seconds from 2000 in 32 bits
            raise self.error(path, f"{text!r} is outside the ZCL UTCTime range (2000..2135)")
        return when.isoformat()

    def basic_string(self, path: str, value: Any) -> str:
        """A Basic cluster character string (ManufacturerName, ModelIdentifier): at most 32 octets."""
        text = self.string(path, value, empty_ok=True)
        size = len(text.encode("utf-8"))
        if size > BASIC_STRING_MAX:
            raise self.error(path, f"{size} octets; the Basic cluster carries at most {BASIC_STRING_MAX}")
        return text

    def eui64(self, path: str, value: Any) -> zigpy_t.EUI64:
        text = self.string(path, value, empty_ok=True)
        normalised = parse_eui64(text)
        if normalised is None:
            raise self.error(path, f"{text!r} is not an EUI-64 (16 hex digits)")
        return zigpy_t.EUI64.convert(normalised)

    def file_bytes(self, path: str, value: Any) -> bytes:
        target = self.base / self.string(path, value, empty_ok=True)
        try:
            return read_input(target, limit=CERT_MAX)  # keys and certificates
        except BadInputFile as exc:
            raise self.error(path, f"{target}: {exc.problem}") from None


def parse_settings(table: Any, reader: _Reader) -> SimSettings:
    if not isinstance(table, dict):
        raise reader.error("sim", "expected a table")
    reader.check_keys("sim", table, _SETTINGS_KEYS)
    values: dict[str, Any] = {}
    for key, value in table.items():
        path = f"sim.{key}"
        match key:
            case "seed":
                values[key] = reader.integer(path, value, 0, 2**63 - 1, text_ok=True)
            case "clock":
                text = reader.string(path, value, empty_ok=True)
                if text not in ("virtual", "real"):
                    raise reader.error(path, f"{text!r} is not one of virtual | real")
                values[key] = text
            case "host_link_baudrate":
                values[key] = reader.integer(path, value, 0, 10_000_000, text_ok=True)
            case "frame_loss":
                values[key] = reader.number(path, value, 0.0, 1.0)
            case "air_model" | "aps_security":
                values[key] = reader.boolean(path, value)
            case "start_time":
                values[key] = reader.instant(path, value)
    return SimSettings(**values)


def parse_device_sim(table: Any, reader: _Reader, path: str, role: Role) -> DeviceSimParams:
    if not isinstance(table, dict):
        raise reader.error(path, "expected a table")
    reader.check_keys(path, table, _DEVICE_SIM_KEYS)
    values: dict[str, Any] = {}
    for key, value in table.items():
        key_path = f"{path}.{key}"
        match key:
            case "firmware_version":
                values[key] = reader.integer(key_path, value, 0, 0xFFFFFFFF, text_ok=True)
            case "hardware_version":
                values[key] = reader.integer(key_path, value, 0, 0xFFFF, text_ok=True)
            case "manufacturer_code" | "image_type":
                values[key] = reader.integer(key_path, value, 0, 0xFFFF, text_ok=True)
            case "max_data_size":
                values[key] = reader.integer(key_path, value, 1, 255, text_ok=True)
            case "hops":
                values[key] = reader.integer(key_path, value, 1, MAX_HOPS, text_ok=True)
            case "min_block_period_ms":
                values[key] = reader.integer(key_path, value, 0, 0xFFFF, text_ok=True)
            case "page_size":
                values[key] = reader.integer(key_path, value, 1, 0xFFFF, text_ok=True)
            case "page_request" | "sleepy" | "accept_downgrade" | "wrong_install_code":
                values[key] = reader.boolean(key_path, value)
            case "clock":
                values[key] = reader.choice(key_path, value, ClockMode)
            case "ota_profile":
                values[key] = reader.choice(key_path, value, OtaProfile)
            case "poll_interval_s" | "gas_push_interval_s" | "time_sync_delay_s" | "query_jitter_s":
                values[key] = reader.number(key_path, value, 0.0, 86400.0 * 365)
            case "drift_s_per_hour":
                values[key] = reader.number(key_path, value, -3600.0, 3600.0)
            case "alert_rate_hz":
                values[key] = reader.number(key_path, value, 0.0, 1000.0)
            case "processing_ms":
                values[key] = reader.number(key_path, value, 0.0, 60_000.0)
            case "supplier_public_key":
                values[key] = reader.file_bytes(key_path, value)
            case "trust_anchors" | "fault_cells":
                if not isinstance(value, dict):
                    raise reader.error(key_path, "expected a table of cell name = DER file")
                for name in value:
                    try:
                        parse_cell_name(name)
                    except CellNameError as exc:
                        raise reader.error(f"{key_path}.{name}", str(exc)) from None
                values[key] = {name: reader.file_bytes(f"{key_path}.{name}", v) for name, v in value.items()}
            case "device_certificates":
                if not isinstance(value, dict) or not set(value) <= {"DS", "KA"}:
                    raise reader.error(key_path, "expected a table with DS and/or KA = DER file")
                values[key] = {name: reader.file_bytes(f"{key_path}.{name}", v) for name, v in value.items()}
            case "credentials_fault":
                values[key] = reader.choice(key_path, value, CredentialsFault)
            case "gbcs_fault":
                values[key] = reader.choice(key_path, value, GbcsFault)
            case "cbke_fault":
                values[key] = reader.choice(key_path, value, CbkeFault)
            case "cbke_suite":
                values[key] = reader.integer(key_path, value, 0, 2, text_ok=True)
            case "ota_fault":
                values[key] = reader.choice(key_path, value, OtaFault)
            case "load_control":
                values[key] = reader.choice(key_path, value, LoadControlMode)
            case "model" | "manufacturer":
                values[key] = reader.basic_string(key_path, value)
    if role is not Role.GSME and values.get("clock") not in (None, ClockMode.SYNCHRONISED):
        raise reader.error(f"{path}.clock", "clock modes other than synchronised apply to GSME only")
    return DeviceSimParams(**values)


def parse_devices(items: Any, reader: _Reader) -> tuple[DeviceSpec, ...]:
    if not isinstance(items, list):
        raise reader.error("devices", "expected an array of tables ([[devices]])")
    devices: list[DeviceSpec] = []
    seen_ids: set[str] = set()
    seen_eui: set[zigpy_t.EUI64] = set()
    for index, entry in enumerate(items):
        path = f"devices[{index}]"
        if not isinstance(entry, dict):
            raise reader.error(path, "expected a table")
        for required in ("id", "role", "eui64"):
            if required not in entry:
                raise reader.error(f"{path}.{required}", "missing")
        device_id = reader.string(f"{path}.id", entry["id"], empty_ok=True)
        role = reader.choice(f"{path}.role", entry["role"], Role)
        eui64 = reader.eui64(f"{path}.eui64", entry["eui64"])
        if device_id in seen_ids:
            raise reader.error(f"{path}.id", f"duplicate device id {device_id!r}")
        if eui64 in seen_eui or eui64 == COORDINATOR_IEEE:
            raise reader.error(f"{path}.eui64", f"EUI-64 {eui64} is already in use")
        seen_ids.add(device_id)
        seen_eui.add(eui64)
        radio = reader.string(f"{path}.radio", entry["radio"], empty_ok=True) if "radio" in entry else None
        sim = (
            parse_device_sim(entry["sim"], reader, f"{path}.sim", role)
            if "sim" in entry
            else DeviceSimParams()
        )
        install_code = None
        if "install_code" in entry:
            try:
                text = reader.string(f"{path}.install_code", entry["install_code"], empty_ok=True)
                install_code = parse_install_code(text, what="install code").code
            except InvalidInstallCode as exc:
                raise reader.error(f"{path}.install_code", str(exc)) from None
        if sim.wrong_install_code and install_code is None:
            raise reader.error(f"{path}.sim.wrong_install_code", "the device has no install_code")
        devices.append(DeviceSpec(id=device_id, role=role, eui64=eui64, radio=radio, sim=sim,
                                  install_code=install_code))
    return tuple(devices)


def parse_faults(items: Any, reader: _Reader, device_ids: set[str]) -> tuple[FaultSpec, ...]:
    if not isinstance(items, list):
        raise reader.error("faults", "expected an array of tables ([[faults]])")
    faults: list[FaultSpec] = []
    for index, entry in enumerate(items):
        path = f"faults[{index}]"
        if not isinstance(entry, dict):
            raise reader.error(path, "expected a table")
        if "kind" not in entry:
            raise reader.error(f"{path}.kind", "missing")
        kind = reader.choice(f"{path}.kind", entry["kind"], FaultKind)
        reader.check_keys(path, entry, FAULT_KEYS[kind])
        values: dict[str, Any] = {"kind": kind}
        for key, value in entry.items():
            key_path = f"{path}.{key}"
            match key:
                case "device":
                    name = reader.string(key_path, value, empty_ok=True)
                    if name not in device_ids:
                        raise reader.error(key_path, f"no device with id {name!r}")
                    values[key] = name
                case "after_s" | "duration_s" | "delay_s":
                    values[key] = reader.number(key_path, value, 0.0, 86400.0 * 365)
                case "probability":
                    values[key] = reader.number(key_path, value, 0.0, 1.0)
                case "direction":
                    values[key] = reader.choice(key_path, value, Direction)
                case "cluster":
                    values[key] = reader.integer(key_path, value, 0, 0xFFFF, text_ok=True)
                case "count" | "at_offset":
                    values[key] = reader.integer(key_path, value, 0, 2**32 - 1, text_ok=True)
                case "rate_hz":
                    values[key] = reader.number(key_path, value, 0.001, 1000.0)
                case "drift_s_per_hour":
                    values[key] = reader.number(key_path, value, -3600.0, 3600.0)
        if kind in DEVICE_FAULTS and "device" not in values:
            raise reader.error(f"{path}.device", f"a {kind.value} fault needs a device")
        faults.append(FaultSpec(**values))
    return tuple(faults)


def parse_sim_config(
    document: Mapping[str, Any],
    *,
    source: str = "<rig>",
    base: Path | None = None,
    radio_id: str | None = None,
    text: str | None = None,
) -> SimConfig:
    """Build a :class:`SimConfig` from an already-loaded rig-file document.

    ``radio_id`` selects the devices whose ``radio`` names that radio (devices without ``radio`` go to
    every simulated radio). A rig file without ``[[devices]]`` gets the default bench's devices.
    """
    reader = _Reader(source, base or Path.cwd(), text)
    settings = parse_settings(document["sim"], reader) if "sim" in document else SimSettings()
    if "devices" in document:
        devices = parse_devices(document["devices"], reader)
        if radio_id is not None:
            devices = tuple(d for d in devices if d.radio in (None, radio_id))
    else:
        devices = default_bench().devices
    faults = parse_faults(document["faults"], reader, {d.id for d in devices}) if "faults" in document else ()
    return SimConfig(settings=settings, devices=devices, faults=faults, source=source)


def load_sim_config(path: str | Path, *, radio_id: str | None = None) -> SimConfig:
    """Read a rig file and build its :class:`SimConfig` (errors name the file, key path and line)."""
    rig_path = Path(path)
    try:
        text = read_input_text(rig_path, limit=RIG_FILE_MAX)
    except BadInputFile as exc:
        raise SimConfigError(str(rig_path), "", exc.problem) from None
    try:
        document = parse_toml(text)
    except TomlSyntaxError as exc:
        raise SimConfigError(str(rig_path), "", exc.problem, exc.line) from None
    return parse_sim_config(document, source=str(rig_path), base=rig_path.parent, radio_id=radio_id,
                            text=text)
