"""The device inventory (SECMP0056): Basic-cluster and OTA-client attributes of every joined device.

``gw.inventory.read_all()`` reads, for every device and with its role, the Basic attributes ZCLVersion,
ApplicationVersion, StackVersion, HWVersion, ManufacturerName, ModelIdentifier, DateCode, PowerSource
and SWBuildID (server cluster 0x0000), and the OTA client's CurrentFileVersion, ManufacturerID and
ImageTypeID (client cluster 0x0019). Reads go to the device every time (no zigpy cache), in two Basic
groups (numbers, strings) so a full response fits one frame, then the OTA group. A device that answers
only some attributes still gets a :class:`DeviceInventory`, with every missing attribute named in
``missing`` and why in ``problems``; a device that does not answer at all gets a row too.
Devices are read concurrently (a sleepy GSME answers on its next poll). Every further endpoint with a
Basic server is read too (``endpoints``).

Which attributes a device must give depends on its role: :data:`REQUIREMENTS` is the one table, each
entry citing where the requirement comes from. A missing mandatory attribute fails (``missing_mandatory``);
a missing optional one is recorded (``missing_optional``), never failed.

A device whose zigpy interview did not finish (no node descriptor, no application endpoint, no Basic
model) is listed too, with the interview steps it lacks in ``missing`` (``node_descriptor``,
``endpoints``, ``interview_model``) and its attributes as "not read"; ``reinterview`` asks zigpy to interview
the incomplete ones again (``hanrig devices --interview``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import zigpy.exceptions
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Basic, Ota

from hal.roles import Role

if TYPE_CHECKING:
    from .session import Gateway, HanDevice


@dataclass(frozen=True)
class Requirement:
    """Whether a role must report an attribute, and the clause that says so."""

    mandatory: bool
    source: str


ZCL_BASIC = "ZCL r8 (07-5123) 3.2.2.2 Basic server attributes"
ZCL_OTA = "ZCL r8 (07-5123) 11.10 OTA Upgrade client attributes"
SECMP0056 = "SECMP0056 (IHD/PPMID Basic attributes available as for SMETS1; GBCS lists HWVersion, " \
            "ManufacturerName, ModelIdentifier)"
SECMP0007 = "SECMP0007 (the hub verifies an upgrade by the version the device reports)"


def _requirements(role: Role) -> dict[str, Requirement]:
    table = {name: Requirement(False, ZCL_BASIC) for name in ("app_version", "stack_version", "hw_version",
                                                               "manufacturer", "model", "date_code",
                                                               "sw_build_id")}
    table["zcl_version"] = Requirement(True, ZCL_BASIC)
    table["power_source"] = Requirement(True, ZCL_BASIC)
    if role in (Role.IHD, Role.PPMID):
        for name in ("hw_version", "manufacturer", "model"):
            table[name] = Requirement(True, SECMP0056)
    for name in ("manufacturer_id", "image_type_id"):
        table[name] = Requirement(False, ZCL_OTA)
    table["current_file_version"] = Requirement(role in (Role.IHD, Role.PPMID, Role.HCALCS),
                                                SECMP0007 if role in (Role.IHD, Role.PPMID, Role.HCALCS)
                                                else ZCL_OTA)
    return table


# role -> attribute -> requirement (a device of unknown role is held to the ZCL's mandatory attributes)
REQUIREMENTS: Final[dict[Role | None, dict[str, Requirement]]] = {
    **{role: _requirements(role) for role in Role},
    None: _requirements(Role.ESME),
}

READ_TIMEOUT_S: Final = 60.0  # per attribute group; a sleepy device answers on its next poll

BASIC_NUMBERS: Final = ("zcl_version", "app_version", "stack_version", "hw_version", "power_source")
BASIC_STRINGS: Final = ("manufacturer", "model", "date_code", "sw_build_id")
BASIC_ATTRIBUTES: Final = BASIC_NUMBERS + BASIC_STRINGS
OTA_ATTRIBUTES: Final = ("current_file_version", "manufacturer_id", "image_type_id")
INTERVIEW_STEPS: Final = ("node_descriptor", "endpoints", "interview_model")  # what zigpy interviews
NOT_INTERVIEWED: Final = "not read: the device's interview did not finish (hanrig devices --interview)"
# OTA client attribute -> (JSON name in ``hanrig devices --json``, hex width); cli.md: hex plus an _int twin
_OTA_JSON: Final = {
    "current_file_version": ("firmware_version", 8),
    "manufacturer_id": ("manufacturer_code", 4),
    "image_type_id": ("image_type", 4),
}


@dataclass(frozen=True)
class DeviceInventory:
    """What one device said about itself; None where it did not say (named in ``missing``)."""

    id: str
    eui64: str
    role: Role | None
    nwk: int
    zcl_version: int | None = None
    app_version: int | None = None
    stack_version: int | None = None
    hw_version: int | None = None
    manufacturer: str | None = None
    model: str | None = None
    date_code: str | None = None
    power_source: str | None = None  # Basic.PowerSource name, e.g. "Battery"
    sw_build_id: str | None = None
    current_file_version: int | None = None
    manufacturer_id: int | None = None
    image_type_id: int | None = None
    missing: tuple[str, ...] = ()
    problems: dict[str, str] = field(default_factory=dict)  # attribute -> why it is missing
    interviewed: bool = True  # zigpy finished the interview (node descriptor, endpoints, Basic model)
    # further endpoints with a Basic server: endpoint id -> {attribute: value}, and what each lacked
    endpoints: dict[int, dict[str, Any]] = field(default_factory=dict)
    endpoint_missing: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def requirements(self) -> dict[str, Requirement]:
        return REQUIREMENTS[self.role]

    @property
    def missing_mandatory(self) -> tuple[str, ...]:
        """Mandatory attributes for this role that a Basic endpoint (or the OTA client) did not give,
        as ``name`` for the application endpoint and ``name@endpoint`` for the others; and the interview
        gaps (nothing could be judged without them)."""
        table = self.requirements
        first = tuple(n for n in self.missing if n in INTERVIEW_STEPS or (n in table and table[n].mandatory))
        more = tuple(f"{n}@{ep}" for ep, names in sorted(self.endpoint_missing.items()) for n in names
                     if n in table and table[n].mandatory)
        return first + more

    @property
    def missing_optional(self) -> tuple[str, ...]:
        table = self.requirements
        first = tuple(n for n in self.missing if n in table and not table[n].mandatory)
        more = tuple(f"{n}@{ep}" for ep, names in sorted(self.endpoint_missing.items()) for n in names
                     if n in table and not table[n].mandatory)
        return first + more

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``hanrig devices --json`` (hex identifiers as strings plus ``_int``); ``missing``
        and ``problems`` name attributes by their ZCL names."""
        document: dict[str, Any] = {
            "id": self.id,
            "role": None if self.role is None else str(self.role),
            "eui64": self.eui64,
            "nwk": f"0x{self.nwk:04x}",
            "nwk_int": self.nwk,
            "interviewed": self.interviewed,
            "complete": self.complete,
            "basic": {name: getattr(self, name) for name in BASIC_ATTRIBUTES},
        }
        for name in OTA_ATTRIBUTES:
            value = getattr(self, name)
            key, width = _OTA_JSON[name]
            document[key] = None if value is None else f"0x{value:0{width}x}"
            document[f"{key}_int"] = value
        document["missing"] = list(self.missing)
        document["missing_mandatory"] = list(self.missing_mandatory)
        document["missing_optional"] = list(self.missing_optional)
        document["problems"] = dict(self.problems)
        document["endpoints"] = {str(ep): values for ep, values in sorted(self.endpoints.items())}
        document["requirements"] = {name: {"mandatory": req.mandatory, "source": req.source}
                                    for name, req in self.requirements.items()}
        return document


class Inventory:
    """``gw.inventory``: read what devices say about themselves."""

    def __init__(self, gateway: Gateway, timeout_s: float = READ_TIMEOUT_S) -> None:
        self.gateway = gateway
        self.timeout_s = timeout_s

    async def read_all(self, role: Role | str | None = None) -> list[DeviceInventory]:
        """Every joined device (of ``role``), in EUI-64 order."""
        devices = self.gateway.devices(role=role)
        return list(await asyncio.gather(*(self.read(device) for device in devices)))

    async def reinterview(self, devices: Iterable[HanDevice], timeout_s: float) -> None:
        """Ask zigpy to interview ``devices`` again (those not being interviewed already) and wait, up to
        ``timeout_s`` on the radio's clock, for every interview in progress to end."""
        for device in devices:
            if not device.zigpy_device.initializing:
                device.zigpy_device.schedule_initialize()
        await self.wait_for_interviews(timeout_s)

    async def wait_for_interviews(self, timeout_s: float) -> list[HanDevice]:
        """Wait (radio clock) until no device is being interviewed, at most ``timeout_s``; return the busy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            busy = [d for d in self.gateway.devices() if d.zigpy_device.initializing]
            if not busy or loop.time() >= deadline:
                return busy
            await asyncio.sleep(min(0.5, deadline - loop.time()))

    async def read(self, device: HanDevice | str) -> DeviceInventory:
        """One device (a HanDevice, rig id or EUI-64)."""
        han_device = self.gateway.device(device) if isinstance(device, str) else device
        gaps = interview_gaps(han_device.zigpy_device)
        if gaps and "endpoints" in gaps:
            # nothing to read from: no application endpoint is known (zigpy would not route a reply)
            problems = {**gaps, **dict.fromkeys((*BASIC_ATTRIBUTES, *OTA_ATTRIBUTES), NOT_INTERVIEWED)}
            return DeviceInventory(id=han_device.id, eui64=han_device.eui64, role=han_device.role,
                                   nwk=han_device.nwk, missing=tuple(problems), problems=problems,
                                   interviewed=False)
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        endpoint = _application_endpoint(han_device)
        basic = endpoint.in_clusters.get(Basic.cluster_id) if endpoint is not None else None
        ota = endpoint.out_clusters.get(Ota.cluster_id) if endpoint is not None else None
        if basic is None:
            problems.update(dict.fromkeys(BASIC_ATTRIBUTES, "device has no Basic server cluster"))
        else:
            for group in (BASIC_NUMBERS, BASIC_STRINGS):
                await self._read_group(basic, group, values, problems)
                if all(problems.get(name, "").startswith("no answer") for name in group):
                    # it did not answer: don't wait out every other group too
                    problems.update({n: problems[group[0]] for n in BASIC_ATTRIBUTES if n not in values})
                    break
        if ota is None:
            problems.update(dict.fromkeys(OTA_ATTRIBUTES, "device has no OTA client cluster"))
        elif not all(problems.get(n, "").startswith("no answer") for n in BASIC_ATTRIBUTES):
            await self._read_group(ota, OTA_ATTRIBUTES, values, problems)
        else:
            problems.update(dict.fromkeys(OTA_ATTRIBUTES, problems[BASIC_ATTRIBUTES[0]]))
        if "power_source" in values:
            values["power_source"] = _power_source_name(values["power_source"])
        problems.update(gaps)
        missing = (*gaps, *(name for name in (*BASIC_ATTRIBUTES, *OTA_ATTRIBUTES) if name not in values))
        endpoints: dict[int, dict[str, Any]] = {}
        endpoint_missing: dict[int, tuple[str, ...]] = {}
        for endpoint_id, other in sorted(han_device.zigpy_device.endpoints.items()):
            other_basic = getattr(other, "in_clusters", {}).get(Basic.cluster_id) if endpoint_id else None
            if other_basic is None or other is endpoint:
                continue
            read: dict[str, Any] = {}
            lacking: dict[str, str] = {}
            for group in (BASIC_NUMBERS, BASIC_STRINGS):
                await self._read_group(other_basic, group, read, lacking)
            if "power_source" in read:
                read["power_source"] = _power_source_name(read["power_source"])
            endpoints[endpoint_id] = read
            endpoint_missing[endpoint_id] = tuple(n for n in BASIC_ATTRIBUTES if n not in read)
        return DeviceInventory(
            id=han_device.id,
            eui64=han_device.eui64,
            role=han_device.role,
            nwk=han_device.nwk,
            missing=missing,
            problems={name: problems.get(name, "not reported") for name in missing},
            interviewed=not gaps,
            endpoints=endpoints,
            endpoint_missing=endpoint_missing,
            **values,
        )

    async def _read_group(
        self, cluster: Any, names: Iterable[str], values: dict[str, Any], problems: dict[str, str]
    ) -> None:
        names = list(names)
        try:
            async with asyncio.timeout(self.timeout_s):
                success, failure = await cluster.read_attributes(names, allow_cache=False)
        except (TimeoutError, zigpy.exceptions.ZigbeeException) as exc:
            reason = f"no answer ({type(exc).__name__}{': ' + str(exc) if str(exc) else ''})"
            problems.update(dict.fromkeys(names, reason))
            return
        for name in names:
            if name in success and success[name] is not None:
                values[name] = _plain(success[name])
            elif name in failure:
                problems[name] = _status_text(failure[name])
            else:
                problems[name] = "not in the response"


def interview_gaps(device: Any) -> dict[str, str]:
    """What zigpy's interview of ``device`` has not learnt yet (INTERVIEW_STEPS), each with why."""
    gaps: dict[str, str] = {}
    busy = " (interview in progress)" if device.initializing else ""
    if device.node_desc is None:
        gaps["node_descriptor"] = f"no Node Descriptor yet{busy}"
    if not device.has_non_zdo_endpoints:
        gaps["endpoints"] = f"no application endpoint known yet{busy}"
    if device.model is None:
        gaps["interview_model"] = f"Basic ModelIdentifier not read in the interview{busy}"
    return gaps


def _application_endpoint(device: HanDevice) -> Any:
    endpoints = device.zigpy_device.endpoints
    for endpoint_id in sorted(endpoints):
        if endpoint_id != 0:
            return endpoints[endpoint_id]
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    return value


def _power_source_name(value: int) -> str:
    source = Basic.PowerSource(int(value) & 0x7F)
    name = source.name
    return f"{name}+battery backup" if int(value) & 0x80 else name


def _status_text(status: Any) -> str:
    try:
        return f"device says {foundation.Status(int(status)).name}"
    except (ValueError, TypeError):
        return f"device says status {status!r}"
