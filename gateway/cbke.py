"""Key Establishment (cluster 0x0800), the hub's side: CBKE with Smart Energy Type 1 devices (issue 13).

A Type 1 device (ESME, GSME, PPMID, HCALCS) that has joined starts key establishment with the trust
centre; the hub answers as the responder (ZSE annex C): Initiate Key Establishment Response (suite,
the hub's generate times and implicit certificate), Ephemeral Data Response, and Confirm Key Data
Response with MACV once the device's MACU checks out. Anything else ends with the Terminate status
ZSE gives it, sent to the device and recorded: UNSUPPORTED_SUITE (a suite the hub has no certificate
for), BAD_MESSAGE (wrong sizes, an out-of-order command, a point that is not on the curve),
UNKNOWN_ISSUER (a certificate from a CA the hub does not trust), INVALID_CERTIFICATE (a certificate
for another EUI-64), BAD_KEY_CONFIRM (MACU does not match), NO_RESOURCES (a second exchange while one
runs). A Terminate from the device is recorded with its status; a device that stops answering runs
into its advertised generate time plus slack and is recorded as a timeout.

**The SE service gate** (rig ``[policies] require_cbke``) lives here too, and decides in one place:
:meth:`CbkeService.refusal` says whether a device may get Smart Energy service; :meth:`CbkeService.admit`
is the door of every request the hub starts (it waits up to ``SERVICE_WAIT_S`` for an exchange still
running, then raises :class:`~gateway.exceptions.NoKeyEstablishment` naming the device), and
:meth:`CbkeService.refuse_now` the door of every unsolicited SE frame (``HanInput`` asks it for each frame
a subscription of an SE service would get) and of the rig steps. Both count each refusal, per device
and per service (``SE_SERVICES``), in the one record :attr:`CbkeService.refusals`: the rig results, the
reports and ``hanrig alerts watch --json`` show it. A new SE service gets the gate by naming its service
when it subscribes to ``HanInput`` and by calling ``admit`` before it sends; ``tests/gateway/
test_require_cbke.py`` drives every service against a keyless device and fails on any that is not refused.

Frames come in through ``HanInput`` (the one door) and go out as raw ZCL through zigpy's device
``request``, so they work before zigpy has interviewed the device. Who does the crypto depends on the
radio: on EZSP the NCP (``hal.ezsp_cbke``: its certificate, ephemeral keys and SMACs; the link key stays
in its key table; one exchange at a time, so a second device gets NO_RESOURCES with a wait time), else
the host (``certs.cbke`` with the TEST-ONLY CBKE PKI's hub certificates unless given).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import zigpy.types as zigpy_t
from zigpy.zcl import foundation

from certs.cbke import SUITES, CbkeIdentity, EphemeralKey, SessionKeys, establish, points_match
from certs.exceptions import CertificateError
from hal.ezsp_cbke import NcpCbke, NcpCbkeError, is_ezsp
from hal.roles import Role
from hal.se_clusters import (
    KeyEstablishment,
    KeyEstablishmentStatus,
    KeyEstablishmentSuite,
    aps_secured_after_cbke,
)
from hanrig_errors import eui64_bytes

from .exceptions import NoKeyEstablishment
from .han_input import FrameSource, HanInput

if TYPE_CHECKING:
    from .session import Gateway

LOGGER = logging.getLogger(__name__)

KE_CLUSTER_ID = KeyEstablishment.cluster_id
SE_PROFILE = 0x0109
HUB_ENDPOINT = 1
HUB_GENERATE_TIME_S = 1        # what the hub advertises: host crypto takes tens of milliseconds
ANSWER_SLACK_S = 20.0          # beyond the device's generate time: air time and a sleepy device's polls
NCP_BUSY_WAIT_S = 10           # the Terminate's wait time when the NCP is busy with another exchange
ESTABLISHED = "established"
TERMINATED = "terminated"
TIMEOUT = "timeout"
NO_KEY_ESTABLISHMENT = "no-key-establishment"  # why a keyless Type 1 device gets no SE service
TYPE_1_ROLES = frozenset({Role.ESME, Role.GSME, Role.PPMID, Role.HCALCS})  # the roles that run CBKE
# the SE services the gate counts refusals for (CbkeService.refusals): each is a feature of the session
GPF: Final = "gpf"                  # GSME pushes, gas reads (SECMP0015)
ALERTS: Final = "alerts"            # ZCL alarms (GBCS alerts come through the tunnel: "gbcs")
GBCS: Final = "gbcs"                # the GB-HRGP tunnel: certificates, CS06, GBCS alerts
OTA: Final = "ota"                  # OTA push and activation (SECMP0007, SECMP0024)
LOADCONTROL: Final = "loadcontrol"  # HCALCS load events and their status (SECMP0046)
TENANCY: Final = "tenancy"          # change of tenancy, history reads
SE_SERVICES: Final = (GPF, ALERTS, GBCS, OTA, LOADCONTROL, TENANCY)
# how long (radio clock) a service asked for a keyless device waits for its key establishment to finish:
# a device starts CBKE a few seconds after joining, and an exchange takes generate times plus air time
SERVICE_WAIT_S = 60.0


@dataclass(frozen=True)
class CbkePolicy:
    """Rig ``policies.require_cbke``: a Type 1 device without a CBKE link key gets no SE service."""

    required: bool = False


class Refusals:
    """The one record of SE service refused under ``require_cbke``: per device (EUI-64) and per service, how
    many requests the hub did not send and unsolicited frames it did not act on, with the latest reason."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}
        self.reasons: dict[str, str] = {}

    def count(self, eui64: str, service: str, reason: str) -> None:
        if service not in SE_SERVICES:
            raise ValueError(f"SE gate: unknown service {service!r} (one of {', '.join(SE_SERVICES)})")
        counts = self.counts.setdefault(eui64, Counter())
        if not counts[service]:  # once per device and service: a storm must not flood the log
            LOGGER.info("%s: %s refused: %s", eui64, service, reason)
        counts[service] += 1
        self.reasons[eui64] = reason

    def of(self, eui64: str) -> dict[str, int]:
        """``{service: count}`` for one device (empty when nothing was refused), in ``SE_SERVICES`` order."""
        counts = self.counts.get(eui64)
        return {} if not counts else {s: counts[s] for s in SE_SERVICES if counts[s]}

    def total(self, service: str | None = None) -> int:
        return sum(c[service] if service is not None else c.total() for c in self.counts.values())

    def to_json(self) -> dict[str, dict[str, Any]]:
        """``{eui64: {"refused": {service: count}, "reason": text}}``, devices in EUI-64 order."""
        return {eui64: {"refused": self.of(eui64), "reason": self.reasons[eui64]}
                for eui64 in sorted(self.counts)}


@dataclass
class CbkeResult:
    """One key establishment with one device, as the hub saw it."""

    eui64: str
    started_at: float                      # the radio clock when the Initiate arrived
    suite: int | None = None
    outcome: str | None = None             # established | terminated | timeout; None while running
    status: KeyEstablishmentStatus | None = None   # the Terminate status, whoever sent it
    terminated_by: str | None = None       # "hub" or "device"
    reason: str = ""
    finished_at: float | None = None
    link_key: bytes | None = field(default=None, repr=False)   # None when it stays on the NCP
    crypto: str = "host"                   # "host" or "ncp": who computed the keys

    @property
    def final(self) -> bool:
        """Finished, and not a NO_RESOURCES the device will retry after the wait time."""
        return self.outcome is not None and not (
            self.outcome == TERMINATED and self.status == KeyEstablishmentStatus.NO_RESOURCES)

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    @property
    def summary(self) -> str:
        if self.outcome == ESTABLISHED:
            return f"suite {self.suite} key established in {self.duration_s:.2f} s"
        if self.outcome == TERMINATED and self.status is not None:
            return f"terminated by the {self.terminated_by}: {self.status.name} ({self.reason})"
        return self.outcome or "running"


class _HostCrypto:
    """``certs.cbke`` on the host, with the same steps as the NCP's engine."""

    def __init__(self, identity: CbkeIdentity) -> None:
        self.identity = identity
        self._ephemeral: EphemeralKey | None = None
        self.keys: SessionKeys | None = None

    async def certificate(self) -> bytes:
        return self.identity.certificate

    async def ephemeral_public_key(self) -> bytes:
        self._ephemeral = EphemeralKey.generate(self.identity.suite)
        return self._ephemeral.public_key

    async def smacs(self, *, am_initiator: bool, partner_certificate: bytes,
                    partner_ephemeral_public_key: bytes) -> tuple[bytes, bytes]:
        assert self._ephemeral is not None
        self.keys = establish(self.identity, self._ephemeral, partner_certificate=partner_certificate,
                              partner_ephemeral_public_key=partner_ephemeral_public_key,
                              am_initiator=am_initiator)
        return self.keys.mac_u, self.keys.mac_v

    async def finish(self, *, store_link_key: bool) -> None:
        return None


@dataclass
class _Exchange:
    result: CbkeResult
    source: FrameSource
    engine: Any = None                     # _HostCrypto or hal.ezsp_cbke.NcpCbke
    radio: Any = None                      # the zigpy application it runs on
    hub_certificate: bytes = b""
    partner_certificate: bytes = b""
    partner_generate_time: int = 0
    state: str = "initiated"               # initiated -> ephemeral -> done
    macs: tuple[bytes, bytes] | None = None
    timer: asyncio.TimerHandle | None = None


def default_hub_credentials(seed: int | None = None) -> dict[int, CbkeIdentity]:
    """The TEST-ONLY CBKE PKI's hub certificate and key for suites 1 and 2."""
    from certs.testpki import DEFAULT_SEED, HUB, cbke_test_pki

    return {suite: cbke_test_pki(suite, seed=seed or DEFAULT_SEED, devices=(HUB,)).identities[HUB]
            for suite in SUITES}


class CbkeService:
    """The hub's Key Establishment server on every radio of a session (``gw.cbke``)."""

    def __init__(self, gateway: Gateway, credentials: dict[int, CbkeIdentity] | None = None) -> None:
        self.gateway = gateway
        self.credentials = credentials if credentials is not None else default_hub_credentials()
        self.results: dict[str, list[CbkeResult]] = {}
        self.policy = CbkePolicy()
        self.refusals = Refusals()
        self._exchanges: dict[str, _Exchange] = {}
        self._ncp_busy: set[int] = set()     # id() of the radios whose NCP runs an exchange
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        tap = HanInput.of(gateway)
        tap.gate = self          # the input path asks the gate about every SE service frame
        to_server = foundation.Direction.Client_to_Server
        defs = KeyEstablishment.ServerCommandDefs
        self._app_listeners = [(app, _SecureOnInitialized(self)) for app in gateway.apps.values()]
        for app, listener in self._app_listeners:
            app.add_listener(listener)
        handlers = ((defs.initiate_key_establishment, self._on_initiate),
                    (defs.ephemeral_data, self._on_ephemeral),
                    (defs.confirm_key_data, self._on_confirm),
                    (defs.terminate_key_establishment, self._on_terminate))
        # service None: Key Establishment is what a keyless device must get, it runs before there is a key
        self._unsubscribe = [tap.on_command(KE_CLUSTER_ID, command.id, handler, to_server, service=None)
                             for command, handler in handlers]

    @property
    def supported_suites(self) -> KeyEstablishmentSuite:
        return KeyEstablishmentSuite(sum(1 << (suite - 1) for suite in self.credentials))

    # ------------------------------------------------------------------ results
    def latest(self, eui64: str) -> CbkeResult | None:
        found = self.results.get(eui64)
        return found[-1] if found else None

    def secured(self, eui64: str) -> bool:
        """Whether the device holds an APS link key from CBKE (its SE traffic goes APS-secured)."""
        return any(r.outcome == ESTABLISHED for r in self.results.get(eui64, ()))

    def link_key(self, eui64: str) -> bytes | None:
        """The APS link key CBKE established with the device (None: no successful exchange)."""
        for result in reversed(self.results.get(eui64, [])):
            if result.outcome == ESTABLISHED:
                return result.link_key
        return None

    async def wait_for_result(self, eui64: str, timeout_s: float) -> CbkeResult | None:
        """The device's latest finished key establishment, waiting up to ``timeout_s`` (radio clock) for
        one to finish; None when the device never started one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            latest = self.latest(eui64)
            if latest is not None and latest.final and eui64 not in self._exchanges:
                return latest
            remaining = deadline - loop.time()
            if remaining <= 0:
                return latest
            self._changed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                continue

    def refusal(self, eui64: str, role: Role | None) -> str | None:
        """Why the device gets no SE service (``no-key-establishment: ...``), or None when it may: the
        policy requires CBKE, the device is Type 1 (or of unknown role) and holds no link key."""
        if not self.policy.required or (role is not None and role not in TYPE_1_ROLES) or self.secured(eui64):
            return None
        latest = self.latest(eui64)
        how = (f"its key establishment did not establish a key ({latest.summary})"
               if latest is not None and latest.final else "it has not completed key establishment")
        return f"{NO_KEY_ESTABLISHMENT}: the rig requires CBKE and {how}"

    async def settle(self, eui64: str, role: Role | None, wait_s: float = SERVICE_WAIT_S) -> str | None:
        """:meth:`refusal`, after waiting up to ``wait_s`` for a key establishment that has not finished yet
        (a device that just joined starts one a few seconds later). Counts nothing: see :meth:`admit`."""
        if self.refusal(eui64, role) is None:
            return None
        latest = self.latest(eui64)
        if latest is None or not latest.final or eui64 in self._exchanges:
            await self.wait_for_result(eui64, wait_s)
        return self.refusal(eui64, role)

    async def verdict(self, eui64: str, role: Role | None, service: str,
                      wait_s: float = SERVICE_WAIT_S) -> str | None:
        """The gate of a request the hub starts for ``service``: :meth:`settle`, the refusal counted in
        :attr:`refusals`. None when the device may be served (OTA records a refusal as an outcome)."""
        refusal = await self.settle(eui64, role, wait_s)
        if refusal is not None:
            self.refusals.count(eui64, service, refusal)
        return refusal

    async def admit(self, eui64: str, role: Role | None, service: str,
                    wait_s: float = SERVICE_WAIT_S) -> None:
        """The gate of every request the hub starts for an SE ``service`` (GPF read, tunnel, load control,
        tenancy, history, activation): raise :class:`NoKeyEstablishment` naming the device when
        :meth:`verdict` says no."""
        refusal = await self.verdict(eui64, role, service, wait_s)
        if refusal is not None:
            raise NoKeyEstablishment(f"device {eui64}: {refusal}")

    def refuse_now(self, eui64: str, role: Role | None, service: str) -> str | None:
        """The gate of what cannot wait (an unsolicited frame, a rig step after the cbke step): the
        refusal, counted in :attr:`refusals`, or None when the device may be served."""
        if not self.policy.required:
            return None
        refusal = self.refusal(eui64, role)
        if refusal is not None:
            self.refusals.count(eui64, service, refusal)
        return refusal

    def secure_se_clusters(self, device: Any) -> int:
        """Make every SE cluster of a keyed ``device`` (zigpy's) send APS-secured with its link key,
        through zigpy's own per-cluster ``aps_encryption`` (requests and replies alike). Returns how many
        clusters it set; none for a device without an established key."""
        if not self.secured(str(device.ieee)):
            return 0
        count = 0
        for endpoint_id, endpoint in device.endpoints.items():
            if endpoint_id == 0:  # ZDO
                continue
            for cluster in (*endpoint.in_clusters.values(), *endpoint.out_clusters.values()):
                if aps_secured_after_cbke(cluster.cluster_id):
                    cluster.aps_encryption = True
                    count += 1
        return count

    async def close(self) -> None:
        for app, listener in self._app_listeners:
            app.remove_listener(listener)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for exchange in self._exchanges.values():
            if exchange.timer is not None:
                exchange.timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ the exchange
    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_initiate(self, source: FrameSource, args: Any) -> None:
        self._spawn(self._initiate(source, args))

    def _on_ephemeral(self, source: FrameSource, args: Any) -> None:
        self._spawn(self._ephemeral(source, args))

    def _on_confirm(self, source: FrameSource, args: Any) -> None:
        self._spawn(self._confirm(source, args))

    def _on_terminate(self, source: FrameSource, args: Any) -> None:
        exchange = self._exchanges.get(source.eui64)
        if exchange is None:
            return
        self._finish(exchange, TERMINATED, status=KeyEstablishmentStatus(int(args.status_code)),
                     by="device", reason="the device terminated")

    async def _initiate(self, source: FrameSource, args: Any) -> None:
        if source.eui64 in self._exchanges:
            await self._send_terminate(source, KeyEstablishmentStatus.NO_RESOURCES, self.supported_suites,
                                       NCP_BUSY_WAIT_S)
            return
        result = CbkeResult(source.eui64, started_at=source.at)
        self.results.setdefault(source.eui64, []).append(result)
        exchange = self._exchanges[source.eui64] = _Exchange(result, source)
        requested = int(args.key_establishment_suite)
        suite = {0x0001: 1, 0x0002: 2}.get(requested)
        if suite is None or suite not in self.credentials:
            await self._terminate(exchange, KeyEstablishmentStatus.UNSUPPORTED_SUITE,
                                  f"the device asked for suite bitmap 0x{requested:04x}; the hub has "
                                  f"0x{int(self.supported_suites):04x}")
            return
        result.suite = suite
        _, app = self._zigpy_device(source.eui64)
        if app is not None and is_ezsp(app):
            if id(app) in self._ncp_busy:
                await self._terminate(exchange, KeyEstablishmentStatus.NO_RESOURCES,
                                      "the NCP is busy with another key establishment", NCP_BUSY_WAIT_S)
                return
            self._ncp_busy.add(id(app))
            exchange.radio, exchange.engine, result.crypto = app, NcpCbke(app, suite), "ncp"
        else:
            exchange.engine = _HostCrypto(self.credentials[suite])
        try:
            exchange.hub_certificate = await exchange.engine.certificate()
        except NcpCbkeError as exc:
            await self._terminate(exchange, KeyEstablishmentStatus.NO_RESOURCES, str(exc), NCP_BUSY_WAIT_S)
            return
        certificate = bytes(args.identity)
        sizes = SUITES[suite]
        if len(certificate) != sizes.certificate_length:
            await self._terminate(exchange, KeyEstablishmentStatus.BAD_MESSAGE,
                                  f"a {len(certificate)}-byte certificate for suite {suite} "
                                  f"({sizes.certificate_length} expected)")
            return
        if sizes.issuer(certificate) != sizes.issuer(exchange.hub_certificate):
            await self._terminate(exchange, KeyEstablishmentStatus.UNKNOWN_ISSUER,
                                  f"issuer {sizes.issuer(certificate).hex()} is not the hub's CA "
                                  f"{sizes.issuer(exchange.hub_certificate).hex()}")
            return
        if sizes.subject(certificate) != eui64_bytes(source.eui64):
            await self._terminate(exchange, KeyEstablishmentStatus.INVALID_CERTIFICATE,
                                  f"certificate subject {sizes.subject(certificate).hex()} is not the sender")
            return
        if not points_match(suite, [sizes.reconstruction_data(certificate)]):
            await self._terminate(exchange, KeyEstablishmentStatus.BAD_MESSAGE,
                                  "the certificate's reconstruction data is not a point of the curve")
            return
        exchange.partner_certificate = certificate
        await self._send(source, "initiate_key_establishment_response",
                         requested_key_establishment_suite=KeyEstablishmentSuite(requested),
                         ephemeral_data_generate_time=HUB_GENERATE_TIME_S,
                         confirm_key_generate_time=HUB_GENERATE_TIME_S, identity=exchange.hub_certificate)
        self._arm(exchange, int(args.ephemeral_data_generate_time), "Ephemeral Data")
        exchange.partner_generate_time = int(args.confirm_key_generate_time)

    async def _ephemeral(self, source: FrameSource, args: Any) -> None:
        exchange = self._exchanges.get(source.eui64)
        if exchange is None or exchange.state != "initiated" or exchange.engine is None:
            return
        suite = exchange.result.suite or 0
        partner_key = bytes(args.ephemeral_data)
        if len(partner_key) != SUITES[suite].public_key_length or not points_match(suite, [partner_key]):
            await self._terminate(exchange, KeyEstablishmentStatus.BAD_MESSAGE,
                                  "the ephemeral key is not a compressed point of the suite's curve")
            return
        exchange.state = "ephemeral"
        try:
            hub_key = await exchange.engine.ephemeral_public_key()
            exchange.macs = await exchange.engine.smacs(am_initiator=False,
                                                        partner_certificate=exchange.partner_certificate,
                                                        partner_ephemeral_public_key=partner_key)
        except (CertificateError, NcpCbkeError) as exc:
            await self._terminate(exchange, KeyEstablishmentStatus.BAD_MESSAGE, str(exc))
            return
        await self._send(source, "ephemeral_data_response", ephemeral_data=hub_key)
        self._arm(exchange, exchange.partner_generate_time, "Confirm Key Data")

    async def _confirm(self, source: FrameSource, args: Any) -> None:
        exchange = self._exchanges.get(source.eui64)
        if exchange is None or exchange.state != "ephemeral" or exchange.macs is None:
            return
        mac_u, mac_v = exchange.macs
        if bytes(args.secure_message_authentication_code) != mac_u:
            await self._terminate(exchange, KeyEstablishmentStatus.BAD_KEY_CONFIRM,
                                  "the device's MACU does not match the hub's")
            return
        await self._send(source, "confirm_key_data_response", secure_message_authentication_code=mac_v)
        if isinstance(exchange.engine, _HostCrypto) and exchange.engine.keys is not None:
            exchange.result.link_key = exchange.engine.keys.link_key
        self._finish(exchange, ESTABLISHED)

    # ------------------------------------------------------------------ endings and frames
    def _arm(self, exchange: _Exchange, generate_time_s: int, what: str) -> None:
        if exchange.timer is not None:
            exchange.timer.cancel()
        exchange.timer = asyncio.get_running_loop().call_later(
            generate_time_s + ANSWER_SLACK_S, self._timed_out, exchange, what, generate_time_s)

    def _timed_out(self, exchange: _Exchange, what: str, generate_time_s: int) -> None:
        if self._exchanges.get(exchange.result.eui64) is exchange:
            self._finish(exchange, TIMEOUT, reason=f"no {what} within the device's generate time "
                                                   f"{generate_time_s} s + {ANSWER_SLACK_S:g} s")

    def _finish(self, exchange: _Exchange, outcome: str, *, status: KeyEstablishmentStatus | None = None,
                by: str | None = None, reason: str = "") -> None:
        if exchange.timer is not None:
            exchange.timer.cancel()
        result = exchange.result
        result.outcome, result.status, result.terminated_by, result.reason = outcome, status, by, reason
        result.finished_at = asyncio.get_running_loop().time()
        self._exchanges.pop(result.eui64, None)
        if exchange.engine is not None:
            self._spawn(self._release(exchange, store_link_key=outcome == ESTABLISHED))
        LOGGER.info("cbke %s: %s", result.eui64, result.summary)
        if outcome == ESTABLISHED:
            device, _app = self._zigpy_device(result.eui64)
            if device is not None:
                self.secure_se_clusters(device)
        self._changed.set()

    async def _release(self, exchange: _Exchange, *, store_link_key: bool) -> None:
        """End the engine's exchange: the NCP stores the link key (or drops its temporary data)."""
        try:
            await exchange.engine.finish(store_link_key=store_link_key)
        except NcpCbkeError as exc:
            LOGGER.warning("cbke %s: %s", exchange.result.eui64, exc)
        finally:
            if exchange.radio is not None:
                self._ncp_busy.discard(id(exchange.radio))

    async def _terminate(self, exchange: _Exchange, status: KeyEstablishmentStatus, reason: str,
                         wait_time: int = 0) -> None:
        suites = (KeyEstablishmentSuite(1 << (exchange.result.suite - 1)) if exchange.result.suite
                  else self.supported_suites)
        self._finish(exchange, TERMINATED, status=status, by="hub", reason=reason)
        await self._send_terminate(exchange.source, status, suites, wait_time)

    async def _send_terminate(self, source: FrameSource, status: KeyEstablishmentStatus,
                              suites: KeyEstablishmentSuite, wait_time: int = 0) -> None:
        await self._send(source, "terminate_key_establishment", status_code=status, wait_time=wait_time,
                         key_establishment_suite=suites)

    async def _send(self, source: FrameSource, name: str, **fields: Any) -> None:
        """One server-to-client Key Establishment command to the device, as raw ZCL."""
        command = getattr(KeyEstablishment.ClientCommandDefs, name)
        device, app = self._zigpy_device(source.eui64)
        if device is None:
            LOGGER.warning("cbke: %s is not known to any radio; %s not sent", source.eui64, name)
            return
        tsn = app.get_sequence()
        header = foundation.ZCLHeader.cluster(tsn, command.id,
                                              direction=foundation.Direction.Server_to_Client)
        header.frame_control = header.frame_control.replace(disable_default_response=True)
        payload = command.schema(**fields).serialize()
        try:
            await device.request(SE_PROFILE, KE_CLUSTER_ID, HUB_ENDPOINT, source.endpoint, tsn,
                                 header.serialize() + payload, expect_reply=False)
        except Exception as exc:  # a lost frame: the device's own timer ends its side
            LOGGER.warning("cbke: %s to %s failed: %s", name, source.eui64, exc)

    def _zigpy_device(self, eui64: str) -> tuple[Any, Any]:
        ieee = zigpy_t.EUI64.convert(eui64)
        for app in self.gateway.apps.values():
            if ieee in app.devices:
                return app.devices[ieee], app
        return None, None


class _SecureOnInitialized:
    """zigpy app listener: a keyed device's clusters created by a (re-)interview get APS security too."""

    def __init__(self, service: CbkeService) -> None:
        self.service = service

    def device_initialized(self, device: Any) -> None:
        self.service.secure_se_clusters(device)
