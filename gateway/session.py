"""The gateway session: one HAN host over one or more radios, with devices known by role.

``async with Gateway.open([...radios...], bindings) as gw:`` opens every radio through
``hal.open_radio`` (a real stick or ``sim://``; the code above is the same), and then offers:

* ``gw.devices(role=...)`` / ``gw.device(id_or_eui64)``: the joined devices as ``HanDevice``s;
* one typed attribute per feature, created on first use: ``gw.ota``, ``gw.gpf``, ``gw.certs``,
  ``gw.gbcs``, ``gw.loadcontrol``, ``gw.alerts``, ``gw.inventory``, ``gw.tenancy``, ``gw.network``
  (permit, backup/restore, scans, form, reset: ``hanrig network``). The hub's always-on
  functions (the OTA server on every radio, the GPF, alert intake) start when the session opens;
* ``gw.permit_join(seconds)``, ``gw.radio_info(radio_id)``, and ``gw.sim(radio_id)``: the simulator
  control protocol (``hal.simcontrol``) of a ``sim://`` radio, None on hardware.

The session is the only door above ``hal``: ``rigs`` and the CLI use these, never zigpy's application
objects (``gw.apps`` is for the gateway's own features) or the simulator's internals. A new feature is
one more typed ``functools.cached_property`` below.

A device's role comes from the rig's bindings (id, role, EUI-64) when given; otherwise it is inferred
from what the device says about itself on the Smart Energy profile: its SE device id (Metering Device,
In-Premise Display, Load Control Device, Prepayment Terminal) and, for a meter, whether it is a
sleepy end device (a GSME) or a mains router (an ESME).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import zigpy.application
import zigpy.device
import zigpy.exceptions
import zigpy.types as zigpy_t
from zigpy.util import convert_install_code

import hal
from hal.radio import interview_complete
from hal.roles import Role
from hal.simcontrol import SimControl, sim_control
from hanrig_errors import parse_eui64

from .exceptions import DeviceNotFound, GatewayError
from .network import MAX_PERMIT_S
from .radio_info import describe_radio

if TYPE_CHECKING:  # the features import this module; each is loaded on first use
    from .alerts_service import AlertService
    from .cbke import CbkeService
    from .certs_service import CertsService
    from .gbcs_service import GbcsService
    from .gpf_service import GpfService
    from .inventory import Inventory
    from .loadcontrol import LoadControl
    from .network import NetworkService
    from .ota import OtaService
    from .policies import Policies
    from .tenancy import Tenancy

T = TypeVar("T")

SE_PROFILE = 0x0109


class SeDeviceId:
    """Smart Energy profile device ids (ZigBee SE 1.x, device descriptions)."""

    ENERGY_SERVICE_INTERFACE = 0x0500
    METERING_DEVICE = 0x0501
    IN_PREMISE_DISPLAY = 0x0502
    PCT = 0x0503
    LOAD_CONTROL_DEVICE = 0x0504
    SMART_APPLIANCE = 0x0505
    PREPAYMENT_TERMINAL = 0x0506


_ROLE_BY_SE_DEVICE_ID: dict[int, Role] = {
    SeDeviceId.IN_PREMISE_DISPLAY: Role.IHD,
    SeDeviceId.LOAD_CONTROL_DEVICE: Role.HCALCS,
    SeDeviceId.PREPAYMENT_TERMINAL: Role.PPMID,
}



@dataclass(frozen=True)
class RadioEndpoint:
    """A radio the session opens: an id (rig files name radios) and its URL."""

    id: str
    url: str
    config: hal.RadioConfig | None = None


@dataclass(frozen=True)
class DeviceBinding:
    """What the rig says a device is: its id, role and EUI-64 (and optionally its radio)."""

    id: str
    role: Role
    eui64: str
    radio: str | None = None


@dataclass(frozen=True)
class HanDevice:
    """A joined device as the gateway sees it: identity, role, and the zigpy device behind it."""

    id: str
    role: Role | None
    eui64: str
    radio_id: str
    app: zigpy.application.ControllerApplication
    zigpy_device: zigpy.device.Device

    @property
    def nwk(self) -> int:
        return int(self.zigpy_device.nwk)

    @property
    def endpoint_id(self) -> int:
        """The device's first application endpoint (GB HAN devices use one)."""
        for endpoint_id in sorted(self.zigpy_device.endpoints):
            if endpoint_id != 0:
                return endpoint_id
        raise DeviceNotFound(self.eui64, "has no application endpoint (not interviewed?)")

    @property
    def endpoint(self) -> Any:
        return self.zigpy_device.endpoints[self.endpoint_id]

    @property
    def is_sleepy(self) -> bool:
        descriptor = self.zigpy_device.node_desc
        return descriptor is not None and not descriptor.is_receiver_on_when_idle

    # the interview: what zigpy learnt of the device when it joined
    @property
    def interviewed(self) -> bool:
        """True once zigpy finished interviewing the device (descriptors, endpoints, Basic model)."""
        return interview_complete(self.zigpy_device)

    @property
    def interviewing(self) -> bool:
        return bool(self.zigpy_device.initializing)

    def interview_again(self) -> None:
        """Start the interview over (zigpy does not retry one that failed, e.g. on lost frames)."""
        self.zigpy_device.schedule_initialize()

    def interview_missing(self) -> list[str]:
        """What the interview has not learnt yet."""
        zdev = self.zigpy_device
        return [name for name, ok in (("node descriptor", zdev.node_desc is not None),
                                      ("endpoints", len(zdev.endpoints) > 1),
                                      ("Basic model", zdev.model is not None)) if not ok]

    @property
    def said_role(self) -> Role | None:
        """The role the device's own Smart Energy descriptors say (see :func:`infer_role`)."""
        return infer_role(self.zigpy_device)


def delivery_failed(exc: BaseException) -> bool:
    """True when ``exc`` is the radio saying a frame was not delivered (zigpy's ``DeliveryError``)."""
    return isinstance(exc, zigpy.exceptions.DeliveryError)


def format_eui64(ieee: zigpy_t.EUI64 | str) -> str:
    """The EUI-64 spelling of the CLI contract: ``00:0d:6f:00:0a:bc:12:34`` (lower case, big-endian)."""
    if isinstance(ieee, zigpy_t.EUI64):
        return repr(ieee)  # zigpy spells it so already (lower-case hex, big-endian): no round trip
    return str(zigpy_t.EUI64.convert(str(ieee))).lower()


def infer_role(device: zigpy.device.Device) -> Role | None:
    """A device's GB role from its SE simple descriptor and node descriptor, or None if not an SE device."""
    for endpoint_id, endpoint in device.endpoints.items():
        if endpoint_id == 0 or getattr(endpoint, "profile_id", None) != SE_PROFILE:
            continue
        device_type = int(endpoint.device_type) if endpoint.device_type is not None else None
        if device_type in _ROLE_BY_SE_DEVICE_ID:
            return _ROLE_BY_SE_DEVICE_ID[device_type]
        if device_type == SeDeviceId.METERING_DEVICE:
            descriptor = device.node_desc
            sleepy = descriptor is not None and not descriptor.is_receiver_on_when_idle
            return Role.GSME if sleepy else Role.ESME
    return None


class Gateway:
    """The HAN host over one or more started zigpy applications."""

    def __init__(self, apps: dict[str, zigpy.application.ControllerApplication],
                 bindings: Iterable[DeviceBinding] = (), urls: dict[str, str] | None = None,
                 configs: dict[str, hal.RadioConfig | None] | None = None) -> None:
        self.apps = apps  # the gateway's own features use these; nothing above the gateway does
        self.urls = urls or {}
        self.configs = configs or {}  # each radio's config (its data dir: where per-radio state lives)
        self.bindings = {format_eui64(b.eui64): b for b in bindings}
        self._features: list[Any] = []  # features created so far, in creation order (closed on exit)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, radios: Sequence[RadioEndpoint | str], bindings: Iterable[DeviceBinding] = (),
                   policies: Policies | None = None) -> AsyncIterator[Gateway]:
        """Open every radio and yield the session (under ``policies`` when given, see :meth:`configure`);
        close the features and the radios on exit."""
        endpoints = [RadioEndpoint(id=f"radio{i}", url=r) if isinstance(r, str) else r
                     for i, r in enumerate(radios)]
        if not endpoints:
            raise GatewayError("no radio to open")
        async with contextlib.AsyncExitStack() as stack:
            apps = {}
            for endpoint in endpoints:
                radio = hal.open_radio(endpoint.url, endpoint.config)
                apps[endpoint.id] = await stack.enter_async_context(radio)
            gateway = cls(apps, bindings, {e.id: e.url for e in endpoints},
                          {e.id: e.config for e in endpoints})
            try:
                gateway.start_hub_functions()
                if policies is not None:
                    gateway.configure(policies)
                yield gateway
            finally:
                await gateway.close()

    def start_hub_functions(self) -> None:
        """Start what a Comms Hub always runs on its HAN, before any command: the OTA server on every
        radio (so zigpy's own responder never answers a device's query), the GPF and alert intake (so
        no push or alert that arrives before the first command is lost) and the GBCS tunnels."""
        for radio_id in self.apps:
            self.ota.server(radio_id)
        _ = self.gpf, self.alerts, self.cbke
        self.gbcs.start()  # the GSMEs' tunnels: a GSME opens its own when it wakes

    def configure(self, policies: Policies) -> None:
        """Put the session under ``policies`` (a rig file's ``[policies]``): each feature takes its own."""
        ota = policies.ota
        self.ota.configure(**{f.name: getattr(ota, f.name) for f in dataclasses.fields(ota)})
        self.gpf.configure(policy=policies.gpf)
        self.alerts.configure(policies.alerts)
        self.loadcontrol.policy = policies.loadcontrol
        self.cbke.policy = policies.cbke

    async def close(self) -> None:
        """Stop every feature that holds tasks or listeners (features with an async ``close``)."""
        for feature in list(self._features):
            closer = getattr(feature, "close", None)
            if closer is not None:
                await closer()
        self._features.clear()

    # ------------------------------------------------------------------ devices
    def _han_device(self, radio_id: str, app: zigpy.application.ControllerApplication,
                    device: zigpy.device.Device) -> HanDevice:
        eui64 = format_eui64(device.ieee)
        binding = self.bindings.get(eui64)
        role = binding.role if binding is not None else infer_role(device)
        return HanDevice(id=binding.id if binding is not None else eui64, role=role, eui64=eui64,
                         radio_id=radio_id, app=app, zigpy_device=device)

    def devices(self, role: Role | str | None = None) -> list[HanDevice]:
        """Joined devices (never the coordinators), optionally of one role, in EUI-64 order."""
        wanted = Role(role) if role is not None else None
        found = []
        for radio_id, app in self.apps.items():
            own = app.state.node_info.ieee
            for ieee, device in app.devices.items():
                if ieee == own:
                    continue
                han_device = self._han_device(radio_id, app, device)
                if wanted is None or han_device.role == wanted:
                    found.append(han_device)
        return sorted(found, key=lambda d: d.eui64)

    def device(self, key: str) -> HanDevice:
        """A device by rig id, EUI-64 (any common spelling) or role name (ESME, ...) when exactly one
        joined device has that role; DeviceNotFound names what was asked."""
        wanted_eui = parse_eui64(key)
        for device in self.devices():
            if device.id == key or (wanted_eui is not None and device.eui64 == wanted_eui):
                return device
        if key.upper() in Role.__members__:
            of_role = self.devices(role=key.upper())
            if len(of_role) == 1:
                return of_role[0]
            if len(of_role) > 1:
                raise DeviceNotFound(key, "names a role several devices have (give the EUI-64: "
                                          + ", ".join(d.eui64 for d in of_role) + ")")
        known = ", ".join(f"{d.id} ({d.role})" for d in self.devices()) or "none"
        raise DeviceNotFound(key, f"has not joined (joined: {known})")

    # ------------------------------------------------------------------ radios
    async def permit_join(self, seconds: float, radio_id: str | None = None, *,
                          install_codes: Mapping[str, bytes] | None = None) -> None:
        """Open the network for joining for ``seconds`` (at most 254, as ZDO Mgmt_Permit_Joining allows)
        on one radio, or on every radio of the session. With ``install_codes`` (EUI-64 -> code with CRC)
        only those devices may join, each with its code's link key (``gw.network.permit``)."""
        keys = {zigpy_t.EUI64.convert(eui): bytes(convert_install_code(code))
                for eui, code in (install_codes or {}).items()}
        for rid in self.apps:
            if radio_id is None or rid == radio_id:
                await self.network.permit(int(min(seconds, MAX_PERMIT_S)), keys, rid)

    def sim(self, radio_id: str | None = None) -> SimControl | None:
        """The simulator control protocol of a ``sim://`` radio (the session's first radio by default):
        faults, storms, clocks, the frame trace; None on a real radio."""
        app = self.apps[radio_id] if radio_id is not None else next(iter(self.apps.values()))
        return sim_control(app)

    def radio_info(self, radio_id: str) -> dict[str, Any]:
        """What one radio says about itself through zigpy's standard application state (the document of
        ``hanrig radio info``, see ``gateway.radio_info``)."""
        return describe_radio(self.apps[radio_id], self.urls.get(radio_id, radio_id))

    # ------------------------------------------------------------------ features
    def _feature(self, feature: T) -> T:
        self._features.append(feature)
        return feature

    @functools.cached_property
    def ota(self) -> OtaService:
        """OTA push, activation and the OTA server on every radio (SECMP0007, SECMP0024)."""
        from .ota import OtaService

        return self._feature(OtaService(self))

    @functools.cached_property
    def gpf(self) -> GpfService:
        """The Gas Proxy Function: GSME pushes and their clock status (SECMP0015)."""
        from .gpf_service import GpfService

        return self._feature(GpfService(self))

    @functools.cached_property
    def certs(self) -> CertsService:
        """Meter certificates read over the HAN and verified (SECMP0063)."""
        from .certs_service import CertsService

        return self._feature(CertsService(self))

    @functools.cached_property
    def gbcs(self) -> GbcsService:
        """GBCS relayed to the meters over GB-HRGP tunnels, responses checked (SECMP0063, ...)."""
        from .gbcs_service import GbcsService

        return self._feature(GbcsService(self))

    @functools.cached_property
    def loadcontrol(self) -> LoadControl:
        """HCALCS load events (SECMP0046)."""
        from .loadcontrol import LoadControl

        return self._feature(LoadControl(self))

    @functools.cached_property
    def alerts(self) -> AlertService:
        """Alert intake under storm protection (SECMP0062)."""
        from .alerts_service import AlertService

        return self._feature(AlertService(self))

    @functools.cached_property
    def inventory(self) -> Inventory:
        """Basic and OTA client attributes of the joined devices (SECMP0056)."""
        from .inventory import Inventory

        return self._feature(Inventory(self))

    @functools.cached_property
    def cbke(self) -> CbkeService:
        """Key Establishment (0x0800), the hub's side: CBKE with Type 1 devices (issue 13)."""
        from .cbke import CbkeService

        return self._feature(CbkeService(self))

    @functools.cached_property
    def network(self) -> NetworkService:
        """Network operations: permit, backup/restore, scans, form, reset (``hanrig network``)."""
        from .network import NetworkService

        return self._feature(NetworkService(self))

    @functools.cached_property
    def tenancy(self) -> Tenancy:
        """Change of tenancy and the history it hides."""
        from .tenancy import Tenancy

        return self._feature(Tenancy(self))
