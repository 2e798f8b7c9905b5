"""Rig files: parse a rig TOML into frozen, typed objects, and the built-in default bench.

This module owns the ``[rig]``, ``[[radios]]``, ``[[devices]]`` (less ``[devices.sim]``),
``[policies]``, ``[[plan.steps]]``, ``[outputs]`` (or ``[results] url``) and ``[labgrid]`` tables and
rejects unknown keys in them. The
``[sim]`` and ``[[faults]]`` tables and every ``[devices.sim]`` sub-table belong to the simulator
(``hal/sim/config.py``): they are kept raw on ``Rig.sim_tables`` and not validated here.
Errors name the file, the key path (``devices[2].role``) and the line where one can be found.
Paths resolve relative to the rig file's own directory.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from certs.exceptions import InvalidInstallCode
from certs.install_code import parse_install_code
from gateway.alerts import AlertPolicy
from gateway.cbke import CbkePolicy
from gateway.gpf import GpfPolicy
from gateway.loadcontrol import Commander, LoadControlPolicy
from gateway.ota import OtaPolicies
from gateway.policies import Policies  # [policies] parses straight into the gateway's own types
from hal.roles import Role  # one role enum for rig files, the gateway and the simulator
from hanrig_errors import (
    CERT_MAX,
    OTA_IMAGE_MAX,
    RIG_ARRAY_TABLES,
    RIG_FILE_MAX,
    BadInputFile,
    TomlReader,
    TomlSyntaxError,
    parse_eui64,
    parse_toml,
    read_input_text,
    regular_file_problem,
    toml_kind,
)
from ota.server import Activation, ActivationPlan

from .exceptions import RigFileError

EXAMPLES_DIR = Path(__file__).parent / "examples"
DEFAULT_RIG_FILE = EXAMPLES_DIR / "default.toml"
DEFAULT_RESULTS = "hanrig-results"
DEFAULT_STEP_TIMEOUT_S = 600.0
DEFAULT_MAX_CONCURRENT_DUTS = 8

ARRAY_TABLES = RIG_ARRAY_TABLES
TOP_LEVEL_KEYS = frozenset({"rig", "radios", "devices", "sim", "faults", "policies", "plan", "outputs",
                            "results", "labgrid"})
RADIO_SCHEMES = ("sim", "ezsp", "znp", "deconz", "labgrid")


class StepKind(enum.StrEnum):
    """The kinds of plan step the runner knows."""

    JOIN = "join"
    CBKE = "cbke"
    INVENTORY = "inventory"
    OTA = "ota"
    GAS = "gas"
    CERTS = "certs"
    LOADCONTROL = "loadcontrol"
    ALERTS = "alerts"
    COT = "cot"
    OTA_NEGATIVE = "ota_negative"
    PROMPT = "prompt"
    CS06 = "cs06"


ALL_ROLES: tuple[Role, ...] = tuple(Role)

# Which roles a step can act on at all; a plan naming another role for it is an error.
STEP_ROLES: dict[StepKind, tuple[Role, ...]] = {
    StepKind.JOIN: ALL_ROLES,
    StepKind.INVENTORY: ALL_ROLES,
    StepKind.OTA: ALL_ROLES,
    StepKind.GAS: (Role.GSME,),
    StepKind.CERTS: ALL_ROLES,
    StepKind.LOADCONTROL: (Role.HCALCS,),
    StepKind.ALERTS: ALL_ROLES,
    StepKind.COT: ALL_ROLES,
    StepKind.CBKE: (Role.ESME, Role.GSME, Role.PPMID, Role.HCALCS),  # the Type 1 devices
    StepKind.OTA_NEGATIVE: ALL_ROLES,
    StepKind.PROMPT: ALL_ROLES,
    StepKind.CS06: (Role.ESME, Role.GSME),  # SECMP0024: the meters activate by GBCS CS06
}

# ota_negative: the SECMP0007 negative cases (ota.negative.NegativeCase values)
NEGATIVE_CASES = ("wrong-manufacturer", "wrong-image-type", "hardware-out-of-range", "older-version",
                  "corrupted-image", "unknown-supplier", "truncated", "power-loss")
PROMPT_ACTIONS = ("power-cycle", "press-join")  # gateway.operator.Action values

COMMANDERS = tuple(c.value for c in Commander)  # who may command an HCALCS, as rig files spell them


# --------------------------------------------------------------------------------------------------
# The typed model


@dataclass(frozen=True)
class RadioSpec:
    """One radio of the rig: where it is (URL) and the network it forms."""

    id: str
    url: str
    channel: int | None = None
    pan_id: int | None = None
    extended_pan_id: str | None = None
    network_key: bytes | None = None
    max_concurrent_duts: int = DEFAULT_MAX_CONCURRENT_DUTS

    @property
    def scheme(self) -> str:
        return self.url.split(":", 1)[0]

    @property
    def is_simulated(self) -> bool:
        return self.scheme == "sim"


@dataclass(frozen=True)
class Expectation:
    """What a device should report about itself; ``None`` means not checked."""

    manufacturer: str | None = None
    model: str | None = None
    firmware_version: int | None = None


@dataclass(frozen=True)
class DeviceSpec:
    """One device under test: who it is, which radio it joins, and what to expect of it."""

    id: str
    role: Role
    eui64: str
    radio: str
    install_code: bytes | None = None
    meter_point: str | None = None
    network_operator: str | None = None
    expect: Expectation = field(default_factory=Expectation)
    serial: str | None = None  # the DUT's serial number (the report's identity block)


@dataclass(frozen=True)
class PlanStep:
    """One ordered step of the plan, with the devices it applies to and its own parameters."""

    index: int
    step: StepKind
    roles: tuple[Role, ...] | None = None
    devices: tuple[str, ...] | None = None
    timeout_s: float = DEFAULT_STEP_TIMEOUT_S
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def name(self) -> str:
        return self.step.value

    def applies_to(self, device: DeviceSpec) -> bool:
        if self.devices is not None:
            return device.id in self.devices
        roles = self.roles if self.roles is not None else STEP_ROLES[self.step]
        return device.role in roles


@dataclass(frozen=True)
class Outputs:
    """Where results go; ``None`` means that output is not written."""

    results: str = DEFAULT_RESULTS
    junit: Path | None = None
    html: Path | None = None
    json_dir: Path | None = None
    evidence_dir: Path | None = None
    capture: Path | None = None  # a pcapng of the run's HAN traffic (hal.capture), as --capture writes


@dataclass(frozen=True)
class SimTables:
    """The simulator's raw tables, passed through untouched to ``hal/sim/config.py``."""

    sim: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    faults: tuple[Mapping[str, Any], ...] = ()
    devices: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Rig:
    """A whole rig: radios, devices, policies, the plan and the outputs, plus the file it came from."""

    name: str
    radios: tuple[RadioSpec, ...]
    devices: tuple[DeviceSpec, ...]
    plan: tuple[PlanStep, ...]
    policies: Policies = field(default_factory=Policies)
    outputs: Outputs = field(default_factory=Outputs)
    description: str = ""
    operator: str | None = None  # [rig] operator: who runs the bench (a --operator flag overrides it)
    sim_tables: SimTables = field(default_factory=SimTables)
    source: Path | None = None
    text: str = ""
    base_dir: Path | None = None  # where relative paths in the file resolve

    def document(self) -> dict[str, Any]:
        """The rig file as TOML data, for the simulator's own parser (``hal.sim.config``)."""
        return parse_toml(self.text)

    def radio(self, radio_id: str) -> RadioSpec:
        for radio in self.radios:
            if radio.id == radio_id:
                return radio
        raise KeyError(radio_id)

    def device(self, device_id: str) -> DeviceSpec:
        for device in self.devices:
            if device.id == device_id:
                return device
        raise KeyError(device_id)

    def devices_for(self, step: PlanStep) -> tuple[DeviceSpec, ...]:
        return tuple(d for d in self.devices if step.applies_to(d))

    def planned(self) -> list[tuple[str, int, str]]:
        """Every (device id, step index, step name) the plan will run, in plan order."""
        return [(d.id, s.index, s.name) for s in self.plan for d in self.devices_for(s)]

    @property
    def has_real_radios(self) -> bool:
        return any(not r.is_simulated for r in self.radios)


# --------------------------------------------------------------------------------------------------
# Parsing


class _Ctx(TomlReader):
    """The rig file being parsed: the shared typed reads, errors as ``RigFileError``."""

    def __init__(self, source: Path | None, text: str, check_references: bool = True):
        super().__init__(source, text, RigFileError, ARRAY_TABLES)
        self.check_references = check_references  # False for a stored snapshot: its files were checked


def _hex_int(ctx: _Ctx, where: str, value: Any, bits: int) -> int:
    """A hex id written as a string ("0x1a62") or an integer, within ``bits`` bits."""
    if isinstance(value, bool):
        raise ctx.error(where, "expected a hex id such as \"0x1a62\", got a boolean")
    if isinstance(value, str):
        if not re.fullmatch(r"0[xX][0-9a-fA-F]+", value):
            raise ctx.error(where, f"{value!r} is not a hex id (expected e.g. \"0x{0x1a62:0{bits // 4}x}\")")
        number = int(value, 16)
    elif isinstance(value, int):
        number = value
    else:
        raise ctx.error(where, f"expected a hex id such as \"0x1a62\", got {toml_kind(value)}")
    if not 0 <= number < (1 << bits):
        raise ctx.error(where, f"{value} does not fit in {bits} bits")
    return number


def _eui64(ctx: _Ctx, where: str, value: Any) -> str:
    text = ctx.string(where, value)
    normal = parse_eui64(text)
    if normal is None:
        raise ctx.error(where, f"{text!r} is not an EUI-64 "
                               "(expected 16 hex digits, e.g. 00:0d:6f:00:0a:bc:12:34)")
    return normal


def _hex_bytes(ctx: _Ctx, where: str, value: Any, lengths: tuple[int, ...]) -> bytes:
    text = ctx.string(where, value).replace(":", "").replace(" ", "")
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise ctx.error(where, "is not hex") from None
    if len(data) not in lengths:
        raise ctx.error(where, f"{len(data)} bytes, expected {' or '.join(str(n) for n in lengths)}")
    return data


def _install_code(ctx: _Ctx, where: str, value: Any) -> bytes:
    """6, 8, 12 or 16 bytes and a CRC that matches (``certs.install_code``)."""
    try:
        return parse_install_code(ctx.string(where, value), what="").code
    except InvalidInstallCode as exc:
        raise ctx.error(where, str(exc).strip()) from None


def _ident(ctx: _Ctx, where: str, value: Any) -> str:
    text = ctx.string(where, value)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text):
        raise ctx.error(where, f"{text!r} is not a valid id (letters, digits, '_', '-', '.')")
    return text


def _str_list(ctx: _Ctx, where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ctx.error(where, f"expected a non-empty array of strings, got {toml_kind(value)}")
    return [ctx.string(f"{where}[{i}]", v) for i, v in enumerate(value)]


def _path(base: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _parse_radio(ctx: _Ctx, where: str, table: Mapping[str, Any],
                 coordinator: str | None = None) -> RadioSpec:
    ctx.check_keys(where, table, ("id", "url", "channel", "pan_id", "extended_pan_id", "network_key",
                                    "max_concurrent_duts"))
    for key in ("id", "url"):
        if key not in table:
            raise ctx.error(f"{where}.{key}", "missing")
    url = ctx.string(f"{where}.url", table["url"])
    scheme = url.split(":", 1)[0] if ":" in url else ""
    if scheme not in RADIO_SCHEMES:
        raise ctx.error(f"{where}.url", f"{url!r} is not a radio URL (scheme must be one of "
                                       f"{', '.join(s + ':' for s in RADIO_SCHEMES)})")
    if scheme == "labgrid" and coordinator is not None and "coordinator=" not in url:
        # the rig's [labgrid] coordinator reaches the radio layer in its URL
        url += ("&" if "?" in url else "?") + f"coordinator={coordinator}"
    return RadioSpec(
        id=_ident(ctx, f"{where}.id", table["id"]),
        url=url,
        channel=ctx.integer(f"{where}.channel", table["channel"], 11, 26) if "channel" in table else None,
        pan_id=_hex_int(ctx, f"{where}.pan_id", table["pan_id"], 16) if "pan_id" in table else None,
        extended_pan_id=(_eui64(ctx, f"{where}.extended_pan_id", table["extended_pan_id"])
                         if "extended_pan_id" in table else None),
        network_key=(_hex_bytes(ctx, f"{where}.network_key", table["network_key"], (16,))
                     if "network_key" in table else None),
        max_concurrent_duts=(ctx.integer(f"{where}.max_concurrent_duts", table["max_concurrent_duts"], 1, 64)
                             if "max_concurrent_duts" in table else DEFAULT_MAX_CONCURRENT_DUTS),
    )


def _parse_device(ctx: _Ctx, where: str, table: Mapping[str, Any], radios: Mapping[str, RadioSpec],
                  default_radio: str | None) -> DeviceSpec:
    ctx.check_keys(where, table, ("id", "role", "eui64", "radio", "install_code", "meter_point",
                                    "network_operator", "expect", "sim", "serial"))
    for key in ("id", "role", "eui64"):
        if key not in table:
            raise ctx.error(f"{where}.{key}", "missing")
    if "radio" in table:
        radio = _ident(ctx, f"{where}.radio", table["radio"])
        if radio not in radios:
            raise ctx.error(f"{where}.radio", f"no radio with id {radio!r} (radios: {', '.join(radios)})")
    elif default_radio is not None:
        radio = default_radio
    else:
        raise ctx.error(f"{where}.radio", "missing (the rig has several radios, so each device names one)")
    expect = Expectation()
    if "expect" in table:
        ew = f"{where}.expect"
        et = ctx.table(ew, table["expect"])
        ctx.check_keys(ew, et, ("manufacturer", "model", "firmware_version"))
        expect = Expectation(
            manufacturer=(ctx.string(f"{ew}.manufacturer", et["manufacturer"])
                          if "manufacturer" in et else None),
            model=ctx.string(f"{ew}.model", et["model"]) if "model" in et else None,
            firmware_version=(_hex_int(ctx, f"{ew}.firmware_version", et["firmware_version"], 32)
                              if "firmware_version" in et else None),
        )
    meter_point = None
    if "meter_point" in table:
        meter_point = ctx.string(f"{where}.meter_point", table["meter_point"])
        if not re.fullmatch(r"\d{6,13}", meter_point):
            raise ctx.error(f"{where}.meter_point", f"{meter_point!r} is not an MPAN/MPRN (6..13 digits)")
    if "sim" in table:
        ctx.table(f"{where}.sim", table["sim"])
    serial = ctx.string(f"{where}.serial", table["serial"]) if "serial" in table else None
    return DeviceSpec(
        serial=serial,
        id=_ident(ctx, f"{where}.id", table["id"]),
        role=ctx.choice(f"{where}.role", table["role"], Role),
        eui64=_eui64(ctx, f"{where}.eui64", table["eui64"]),
        radio=radio,
        install_code=(_install_code(ctx, f"{where}.install_code", table["install_code"])
                      if "install_code" in table else None),
        meter_point=meter_point,
        network_operator=(_eui64(ctx, f"{where}.network_operator", table["network_operator"])
                          if "network_operator" in table else None),
        expect=expect,
    )


def _parse_policies(ctx: _Ctx, table: Mapping[str, Any], radios: Iterable[RadioSpec]) -> Policies:
    w = "policies"
    ctx.check_keys(w, table, ("signatures_required", "activation", "allow_downgrade", "alerts",
                                "hcalcs_commanders", "gas_tolerance_s", "require_cbke"))
    activation = ActivationPlan()
    if "activation" in table:
        activation = parse_activation(ctx.string(f"{w}.activation", table["activation"]),
                                      lambda problem: ctx.error(f"{w}.activation", problem))
    alerts = AlertPolicy()
    if "alerts" in table:
        aw = f"{w}.alerts"
        at_ = ctx.table(aw, table["alerts"])
        ctx.check_keys(aw, at_, ("window_s", "threshold", "forward_period_s", "exclude"))
        exclude: tuple[int, ...] = ()
        if "exclude" in at_:
            if not isinstance(at_["exclude"], list):
                raise ctx.error(f"{aw}.exclude",
                                f"expected an array of alert codes, got {toml_kind(at_['exclude'])}")
            exclude = tuple(_hex_int(ctx, f"{aw}.exclude[{i}]", v, 16) for i, v in enumerate(at_["exclude"]))
        alerts = AlertPolicy(
            window_s=ctx.number(f"{aw}.window_s", at_["window_s"], 1, 86400) if "window_s" in at_ else 60.0,
            threshold=(ctx.integer(f"{aw}.threshold", at_["threshold"], 1, 100000)
                       if "threshold" in at_ else 10),
            forward_period_s=(ctx.number(f"{aw}.forward_period_s", at_["forward_period_s"], 0, 86400)
                              if "forward_period_s" in at_ else 300.0),
            exclude=frozenset(exclude),
        )
    commanders = frozenset(Commander)
    if "hcalcs_commanders" in table:
        names = _str_list(ctx, f"{w}.hcalcs_commanders", table["hcalcs_commanders"])
        commanders = frozenset(ctx.choice(f"{w}.hcalcs_commanders[{i}]", name, Commander)
                               for i, name in enumerate(names))
    tolerance = (ctx.number(f"{w}.gas_tolerance_s", table["gas_tolerance_s"], 0, 86400)
                 if "gas_tolerance_s" in table else 10.0)
    ota = OtaPolicies(
        signatures_required=(ctx.boolean(f"{w}.signatures_required", table["signatures_required"])
                             if "signatures_required" in table else True),
        activation=activation,
        allow_downgrade=(ctx.boolean(f"{w}.allow_downgrade", table["allow_downgrade"])
                         if "allow_downgrade" in table else False),
        # devices downloading at once per radio: the rig's tightest max_concurrent_duts
        max_concurrent=min((r.max_concurrent_duts for r in radios), default=None),
    )
    return Policies(
        ota=ota, alerts=alerts, loadcontrol=LoadControlPolicy(commanders=commanders),
        gpf=GpfPolicy(tolerance_s=int(tolerance) if tolerance == int(tolerance) else tolerance),  # type: ignore[arg-type]
        cbke=CbkePolicy(required=(ctx.boolean(f"{w}.require_cbke", table["require_cbke"])
                                  if "require_cbke" in table else False)),
    )


def parse_activation(text: str, fail: Callable[[str], Exception]) -> ActivationPlan:
    """``now`` | ``hold`` | ``at:<ISO8601 with zone>``; ``fail(problem)`` builds the error to raise."""
    if text in (Activation.NOW, Activation.HOLD):
        return ActivationPlan(Activation(text))
    if text.startswith("at:"):
        try:
            when = dt.datetime.fromisoformat(text[3:])
        except ValueError:
            raise fail(f"{text[3:]!r} is not an ISO 8601 time") from None
        if when.tzinfo is None:
            raise fail(f"{text[3:]!r} has no time zone (add Z or +00:00)")
        return ActivationPlan(Activation.AT, when.astimezone(dt.UTC))
    raise fail(f"{text!r} is not one of now | hold | at:<ISO8601>")


# Step parameters: name -> parser(ctx, where, value, base_dir). Unknown parameters are rejected.
def _p_path(ctx: _Ctx, where: str, value: Any, base: Path) -> Path:
    return _path(base, ctx.string(where, value))


def _p_paths(ctx: _Ctx, where: str, value: Any, base: Path) -> tuple[Path, ...]:
    return tuple(_path(base, p) for p in _str_list(ctx, where, value))


# Referenced files are checked when the rig is loaded, not when a step reaches them: they must exist
# and be regular files (a FIFO or device would hang the run) of plausible size, directories be directories.
def _p_file(limit: int) -> Callable[[_Ctx, str, Any, Path], Path]:
    def parse(ctx: _Ctx, where: str, value: Any, base: Path) -> Path:
        path = _p_path(ctx, where, value, base)
        problem = regular_file_problem(path, limit) if ctx.check_references else None
        if problem is not None:
            raise ctx.error(where, f"{path}: {problem}")
        return path
    return parse


def _p_files(limit: int) -> Callable[[_Ctx, str, Any, Path], tuple[Path, ...]]:
    one = _p_file(limit)

    def parse(ctx: _Ctx, where: str, value: Any, base: Path) -> tuple[Path, ...]:
        return tuple(one(ctx, f"{where}[{i}]", p, base) for i, p in enumerate(_str_list(ctx, where, value)))
    return parse


def _p_dir(ctx: _Ctx, where: str, value: Any, base: Path) -> Path:
    path = _p_path(ctx, where, value, base)
    if ctx.check_references and not path.is_dir():
        raise ctx.error(where, f"{path}: {'is not a directory' if path.exists() else 'does not exist'}")
    return path


def _p_activation(ctx: _Ctx, where: str, value: Any, base: Path) -> str:
    text = ctx.string(where, value)
    parse_activation(text, lambda problem: ctx.error(where, problem))
    return text


def _p_bool(ctx: _Ctx, where: str, value: Any, base: Path) -> bool:
    return ctx.boolean(where, value)


def _p_version(ctx: _Ctx, where: str, value: Any, base: Path) -> int:
    return _hex_int(ctx, where, value, 32)


def _p_seconds(ctx: _Ctx, where: str, value: Any, base: Path) -> float:
    return ctx.number(where, value, 0, 7 * 86400)


def _p_count(ctx: _Ctx, where: str, value: Any, base: Path) -> int:
    return ctx.integer(where, value, 1, 1_000_000)


def _p_rate(ctx: _Ctx, where: str, value: Any, base: Path) -> float:
    return ctx.number(where, value, 0, 10_000)


def _p_level(ctx: _Ctx, where: str, value: Any, base: Path) -> int:
    return ctx.integer(where, value, 0, 100)


def _p_commander(ctx: _Ctx, where: str, value: Any, base: Path) -> Commander:
    return ctx.choice(where, value, Commander)


def _p_eui64(ctx: _Ctx, where: str, value: Any, base: Path) -> str:
    return _eui64(ctx, where, value)


def _p_switch(ctx: _Ctx, where: str, value: Any, base: Path) -> str:
    text = ctx.string(where, value)
    if text not in ("on", "off", "level"):
        raise ctx.error(where, f"{text!r} is not one of on | off | level")
    return text


# the gas step's GCS13a clock scenarios: what the simulated GSME's clock does in each, and the
# grouping header's clock-status octet the GPF must then answer with (gateway.gpf.classify)
GCS13A_CLOCK_SCENARIOS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "reliable_gpf": ("absent", "0x00"),  # no GSME timestamp: the GPF's receipt time
    "reliable_gsme": ("synchronised", "0x04"),  # the GSME's own clock, synchronised with the hub
    "unreliable": ("unsynchronised", "0x02"),  # the GSME's clock never synchronised
})


def _p_clock_scenarios(ctx: _Ctx, where: str, value: Any, base: Path) -> tuple[str, ...]:
    scenarios = _str_list(ctx, where, value)
    for i, scenario in enumerate(scenarios):
        if scenario not in GCS13A_CLOCK_SCENARIOS:
            raise ctx.error(f"{where}[{i}]",
                            f"{scenario!r} is not one of {' | '.join(GCS13A_CLOCK_SCENARIOS)}")
    return tuple(scenarios)


def _p_cases(ctx: _Ctx, where: str, value: Any, base: Path) -> tuple[str, ...]:
    cases = _str_list(ctx, where, value)
    for i, case in enumerate(cases):
        if case not in NEGATIVE_CASES:
            raise ctx.error(f"{where}[{i}]", f"{case!r} is not one of {' | '.join(NEGATIVE_CASES)}")
    if not cases:
        raise ctx.error(where, "name at least one case")
    return tuple(cases)


def _p_sha256(ctx: _Ctx, where: str, value: Any, base: Path) -> str:
    text = ctx.string(where, value).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ctx.error(where, f"{text!r} is not a SHA-256 (64 hex digits)")
    return text


def _p_at(ctx: _Ctx, where: str, value: Any, base: Path) -> float | str:
    """When a CS06 activates: seconds after the step starts (hub clock), or an ISO 8601 time with zone."""
    if isinstance(value, str):
        parse_activation(f"at:{value}", lambda problem: ctx.error(where, problem))
        return value
    return ctx.number(where, value, 1, 7 * 86400)


def _p_action(ctx: _Ctx, where: str, value: Any, base: Path) -> str:
    text = ctx.string(where, value)
    if text not in PROMPT_ACTIONS:
        raise ctx.error(where, f"{text!r} is not one of {' | '.join(PROMPT_ACTIONS)}")
    return text


_ParamParser = Callable[[_Ctx, str, Any, Path], Any]
STEP_PARAMS: dict[StepKind, dict[str, _ParamParser]] = {
    StepKind.JOIN: {"permit_s": _p_seconds},
    StepKind.INVENTORY: {},
    StepKind.OTA: {"image": _p_file(OTA_IMAGE_MAX), "image_dir": _p_dir, "activation": _p_activation,
                   "allow_downgrade": _p_bool, "expect_version": _p_version,
                   # the catalogue's image of that version for the device's role
                   "image_version": _p_version},
    StepKind.GAS: {"reads": _p_count, "interval_s": _p_seconds, "clock_scenarios": _p_clock_scenarios},
    StepKind.CERTS: {"roots": _p_files(CERT_MAX), "cert_dir": _p_dir, "expect_network_operator": _p_eui64},
    StepKind.LOADCONTROL: {"switch": _p_switch, "level": _p_level, "duration_s": _p_seconds,
                           "randomise_s": _p_seconds, "as": _p_commander},
    StepKind.ALERTS: {"duration_s": _p_seconds, "rate_hz": _p_rate},
    StepKind.COT: {"meter_point": _p_count},
    StepKind.CBKE: {"wait_s": _p_seconds},
    StepKind.OTA_NEGATIVE: {"cases": _p_cases, "image": _p_file(OTA_IMAGE_MAX)},
    StepKind.PROMPT: {"action": _p_action},
    # image: the file pushed with activation "hold" (its Manufacturer Image hash is what CS06 names);
    # image_sha256: a hash given outright (e.g. a wrong one, to see the meter refuse it); neither: the
    # image the hub last transferred to the meter (what its OTA client says it holds)
    StepKind.CS06: {"image": _p_file(OTA_IMAGE_MAX), "image_sha256": _p_sha256, "at": _p_at},
}


def _parse_step(ctx: _Ctx, where: str, index: int, table: Mapping[str, Any], base: Path,
                device_ids: Iterable[str]) -> PlanStep:
    if "step" not in table:
        raise ctx.error(f"{where}.step", "missing")
    kind: StepKind = ctx.choice(f"{where}.step", table["step"], StepKind)
    specific = STEP_PARAMS[kind]
    ctx.check_keys(where, table, ("step", "roles", "devices", "timeout_s", *specific))
    if "roles" in table and "devices" in table:
        raise ctx.error(f"{where}.devices", "give roles or devices, not both")
    roles = None
    if "roles" in table:
        names = _str_list(ctx, f"{where}.roles", table["roles"])
        roles = tuple(ctx.choice(f"{where}.roles[{i}]", n, Role) for i, n in enumerate(names))
        for i, role in enumerate(roles):
            if role not in STEP_ROLES[kind]:
                raise ctx.error(f"{where}.roles[{i}]", f"step {kind} does not apply to {role} "
                                                       f"(only {', '.join(STEP_ROLES[kind])})")
    devices = None
    if "devices" in table:
        known = set(device_ids)
        devices = tuple(_str_list(ctx, f"{where}.devices", table["devices"]))
        for i, dev in enumerate(devices):
            if dev not in known:
                raise ctx.error(f"{where}.devices[{i}]", f"no device with id {dev!r}")
    params = {key: parser(ctx, f"{where}.{key}", table[key], base)
              for key, parser in specific.items() if key in table}
    if kind is StepKind.LOADCONTROL and params.get("switch") == "level" and "level" not in params:
        raise ctx.error(f"{where}.level", "missing (switch = \"level\" needs a level 0..100)")
    if kind is StepKind.CS06 and "image" in params and "image_sha256" in params:
        raise ctx.error(f"{where}.image_sha256", "give image or image_sha256, not both")
    if kind is StepKind.OTA and "image" in params and "image_version" in params:
        raise ctx.error(f"{where}.image_version", "give image or image_version, not both")
    return PlanStep(
        index=index, step=kind, roles=roles, devices=devices,
        timeout_s=(ctx.number(f"{where}.timeout_s", table["timeout_s"], 0.001, 7 * 86400)
                   if "timeout_s" in table else DEFAULT_STEP_TIMEOUT_S),
        params=MappingProxyType(params),
    )


def _parse_outputs(ctx: _Ctx, table: Mapping[str, Any], base: Path,
                   results_table: Mapping[str, Any] | None = None) -> Outputs:
    w = "outputs"
    ctx.check_keys(w, table, ("results", "junit", "html", "json_dir", "evidence_dir", "capture"))
    results = DEFAULT_RESULTS
    if "results" in table:
        results = ctx.string(f"{w}.results", table["results"])
    if results_table:  # [results] url = "postgresql://..." says the same as [outputs] results
        ctx.check_keys("results", results_table, ("url",))
        if "results" in table:
            raise ctx.error("results.url", "give the results store once: [results] url or [outputs] results")
        if "url" in results_table:
            results = ctx.string("results.url", results_table["url"])
    if "://" not in results:  # a directory: resolve it like every other path in the file
        results = str(_path(base, results))

    def opt(key: str) -> Path | None:
        return _path(base, ctx.string(f"{w}.{key}", table[key])) if key in table else None

    return Outputs(results=results, junit=opt("junit"), html=opt("html"), json_dir=opt("json_dir"),
                   evidence_dir=opt("evidence_dir"), capture=opt("capture"))


def parse_rig(text: str, source: Path | None = None, base_dir: Path | None = None, *,
              check_references: bool = True) -> Rig:
    """Parse rig TOML ``text``; ``source`` names it in errors, paths resolve against ``base_dir``.

    Every value is checked here, including the simulator's tables and the files the rig names (they
    must exist and be regular files); ``check_references=False`` re-reads a run's stored snapshot,
    whose files were checked when it ran and whose relative paths no longer resolve."""
    ctx = _Ctx(source, text, check_references)
    base = base_dir if base_dir is not None else (source.parent if source is not None else Path.cwd())
    try:
        doc = parse_toml(text)
    except TomlSyntaxError as exc:
        raise RigFileError(source, None, exc.problem, exc.line) from None
    ctx.check_keys("", doc, TOP_LEVEL_KEYS)

    rig_table = ctx.table("rig", doc.get("rig", {}))
    ctx.check_keys("rig", rig_table, ("name", "description", "operator"))
    if "name" not in rig_table:
        raise ctx.error("rig.name", "missing")
    name = ctx.string("rig.name", rig_table["name"])
    description = ctx.string("rig.description", rig_table["description"], empty_ok=True) \
        if "description" in rig_table else ""
    operator = ctx.string("rig.operator", rig_table["operator"]) if "operator" in rig_table else None

    radio_tables = ctx.array_of_tables("radios", doc.get("radios", []))
    if not radio_tables:
        raise ctx.error("radios", "a rig needs at least one [[radios]] entry")
    labgrid = ctx.table("labgrid", doc.get("labgrid", {}))
    ctx.check_keys("labgrid", labgrid, ("coordinator",))
    coordinator = (ctx.string("labgrid.coordinator", labgrid["coordinator"]) if "coordinator" in labgrid
                   else None)
    radios: dict[str, RadioSpec] = {}
    for i, rt in enumerate(radio_tables):
        radio = _parse_radio(ctx, f"radios[{i}]", rt, coordinator)
        if radio.id in radios:
            raise ctx.error(f"radios[{i}].id", f"duplicate radio id {radio.id!r}")
        radios[radio.id] = radio

    default_radio = next(iter(radios)) if len(radios) == 1 else None
    device_tables = ctx.array_of_tables("devices", doc.get("devices", []))
    devices: dict[str, DeviceSpec] = {}
    euis: dict[str, str] = {}
    sim_devices: dict[str, Mapping[str, Any]] = {}
    for i, dt_ in enumerate(device_tables):
        device = _parse_device(ctx, f"devices[{i}]", dt_, radios, default_radio)
        if device.id in devices:
            raise ctx.error(f"devices[{i}].id", f"duplicate device id {device.id!r}")
        if device.eui64 in euis:
            raise ctx.error(f"devices[{i}].eui64", f"{device.eui64} is already device {euis[device.eui64]!r}")
        devices[device.id] = device
        euis[device.eui64] = device.id
        if "sim" in dt_:
            if not radios[device.radio].is_simulated:
                raise ctx.error(f"devices[{i}].sim", f"device is on radio {device.radio!r}, which is not sim://")
            sim_devices[device.id] = MappingProxyType(dict(dt_["sim"]))

    policies = _parse_policies(ctx, ctx.table("policies", doc.get("policies", {})), radios.values())

    plan_table = ctx.table("plan", doc.get("plan", {}))
    ctx.check_keys("plan", plan_table, ("steps",))
    step_tables = ctx.array_of_tables("plan.steps", plan_table.get("steps", []))
    plan = tuple(_parse_step(ctx, f"plan.steps[{i}]", i, st, base, devices)
                 for i, st in enumerate(step_tables))

    outputs = _parse_outputs(ctx, ctx.table("outputs", doc.get("outputs", {})), base,
                             ctx.table("results", doc.get("results", {})))

    sim = ctx.table("sim", doc.get("sim", {}))
    faults = ctx.array_of_tables("faults", doc.get("faults", []))
    if check_references and any(r.is_simulated for r in radios.values()):
        # [sim], [devices.sim] and [[faults]] are checked now, not when the radio opens mid-run
        from gateway.bench import check_sim_tables

        check_sim_tables(doc, source=str(source) if source is not None else "<rig>", base=base, text=text)
    return Rig(
        name=name, description=description, radios=tuple(radios.values()), devices=tuple(devices.values()),
        plan=plan, policies=policies, outputs=outputs, operator=operator,
        sim_tables=SimTables(sim=MappingProxyType(dict(sim)),
                             faults=tuple(MappingProxyType(dict(f)) for f in faults),
                             devices=MappingProxyType(sim_devices)),
        source=source, text=text, base_dir=base,
    )


def load_rig(path: Path | str, base_dir: Path | None = None) -> Rig:
    """Read and parse a rig file; relative paths in it resolve against its directory."""
    path = Path(path)
    try:
        text = read_input_text(path, limit=RIG_FILE_MAX)
    except BadInputFile as exc:
        raise RigFileError(path, None, exc.problem) from None
    return parse_rig(text, path, base_dir)


def default_rig(base_dir: Path | None = None) -> Rig:
    """The built-in simulated bench: one ``sim://`` radio, the five fixed devices, every step.

    Its output paths resolve against ``base_dir`` (default: the current directory), not against the
    installed package.
    """
    return load_rig(DEFAULT_RIG_FILE, base_dir=base_dir if base_dir is not None else Path.cwd())
