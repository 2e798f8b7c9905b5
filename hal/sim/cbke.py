"""The client side of CBKE (Key Establishment cluster 0x0800, ZSE annex C) on simulated Type 1 devices
(ESME, GSME, PPMID, HCALCS), issue 13.

As a real Smart Energy device does, a Type 1 device starts key establishment with the trust centre a
few seconds after joining: Initiate Key Establishment (its suite, generate times and implicit
certificate), Ephemeral Data, Confirm Key Data (MACU), checking the hub's MACV; the result is an APS
link key (``link_key``). The crypto is ``certs.cbke``'s; the device's certificate comes from the
TEST-ONLY CBKE PKI (``certs.testpki.cbke_test_pki``), the same CA the hub trusts.

Faults (``[devices.sim] cbke_fault``): ``unknown_issuer`` (a certificate from a CA the hub does not
know), ``corrupt_ephemeral`` (the ephemeral key sent is not the one used: the hub's key confirmation
fails), ``silent`` (the device stops answering after Initiate), ``unsupported_suite`` (it asks for a
suite nobody defines). The device retries only when the hub never answered its Initiate (the hub was
not listening yet) or said NO_RESOURCES (after the wait time it gave).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import TYPE_CHECKING, Any, Protocol

from certs.cbke import SUITES, EphemeralKey, establish
from certs.exceptions import CertificateError
from certs.testpki import cbke_test_pki
from hal.roles import Role
from hal.se_clusters import KeyEstablishment, KeyEstablishmentStatus, KeyEstablishmentSuite

from .wire import ZclFrame, zcl_cluster_command

if TYPE_CHECKING:
    from .config import DeviceSpec

LOGGER = logging.getLogger(__name__)

KE_CLUSTER_ID = KeyEstablishment.cluster_id
TYPE1_ROLES = frozenset({Role.ESME, Role.GSME, Role.PPMID, Role.HCALCS})
START_AFTER_JOIN_S = 3.0      # a device starts CBKE this long (plus jitter) after joining
RETRY_S = 30.0                # ... and again after this when the hub did not answer its Initiate
MAX_ATTEMPTS = 4
GENERATE_TIME_S = 2           # what the device advertises for ephemeral data and for the confirm key
COMPUTE_S = 0.5               # what it actually takes (an MCU's ECC), before answering
ANSWER_SLACK_S = 20.0         # beyond the hub's generate time: air time and a sleepy device's polls
UNDEFINED_SUITE = 0x0004      # the unsupported_suite fault asks for this one


class CbkeFault(enum.StrEnum):
    """What goes wrong in a simulated device's key establishment (``[devices.sim] cbke_fault``)."""

    NONE = "none"
    UNKNOWN_ISSUER = "unknown_issuer"
    CORRUPT_EPHEMERAL = "corrupt_ephemeral"
    SILENT = "silent"
    UNSUPPORTED_SUITE = "unsupported_suite"


class CbkeHost(Protocol):
    spec: DeviceSpec

    def next_tsn(self) -> int: ...
    def random(self) -> float: ...
    async def send_to_hub(self, cluster_id: int, data: bytes) -> None: ...


class _Terminated(Exception):
    def __init__(self, status: int, wait_time: int = 0) -> None:
        super().__init__(status)
        self.status = status
        self.wait_time = wait_time


def device_identity(spec: DeviceSpec, suite: int, *, unknown_issuer: bool = False) -> Any:
    """The device's certificate and key from the TEST-ONLY CBKE PKI (or from a CA nobody trusts)."""
    devices = ((spec.role.value, str(spec.eui64)),)
    if unknown_issuer:
        return next(iter(cbke_test_pki(suite, devices=devices, ca_label="unknown-ca",
                                       issuer=b"NOBODYCA").identities.values()))
    return next(iter(cbke_test_pki(suite, devices=devices).identities.values()))


class CbkeClient:
    """One device's initiator side of the Key Establishment cluster."""

    def __init__(self, host: CbkeHost) -> None:
        self.host = host
        spec = host.spec
        self.suite = spec.sim.cbke_suite
        self.fault = CbkeFault(spec.sim.cbke_fault)
        self.enabled = spec.role in TYPE1_ROLES and self.suite != 0
        self.link_key: bytes | None = None
        self.outcome: str | None = None       # "established", "terminated: STATUS", "no answer"
        self._inbox: asyncio.Queue[ZclFrame] = asyncio.Queue()

    def handle(self, frame: ZclFrame) -> bool:
        """A Key Establishment frame from the hub; only the server-to-client ones are the initiator's."""
        if not frame.from_server:
            return False
        self._inbox.put_nowait(frame)
        return True

    def start(self, spawn: Any) -> None:
        if self.enabled and self.link_key is None:
            spawn(self.run(), behaviour=True)

    async def run(self) -> None:
        await asyncio.sleep(START_AFTER_JOIN_S * (1.0 + self.host.random()))
        for _ in range(MAX_ATTEMPTS):
            retry_after = await self.establish_once()
            if retry_after is None:
                return
            await asyncio.sleep(retry_after)

    async def _send(self, name: str, **fields: Any) -> None:
        data = zcl_cluster_command(KeyEstablishment, self.host.next_tsn(), name, server_to_client=False,
                                   disable_default_response=True, **fields)
        await self.host.send_to_hub(KE_CLUSTER_ID, data)

    async def _expect(self, name: str, timeout: float) -> Any:
        async with asyncio.timeout(timeout):
            frame = await self._inbox.get()
        if frame.name == "terminate_key_establishment":
            raise _Terminated(int(frame.payload.status_code), int(frame.payload.wait_time))
        if frame.name != name:
            await self._terminate(KeyEstablishmentStatus.BAD_MESSAGE)
            raise _Terminated(KeyEstablishmentStatus.BAD_MESSAGE)
        return frame.payload

    async def _terminate(self, status: KeyEstablishmentStatus) -> None:
        await self._send("terminate_key_establishment", status_code=status, wait_time=0,
                         key_establishment_suite=KeyEstablishmentSuite(1 << (max(self.suite, 1) - 1)))

    async def establish_once(self) -> float | None:
        """One key establishment; the seconds to wait before trying again when that is worth it (the hub
        never answered the Initiate, or said NO_RESOURCES with a wait time), else None."""
        while not self._inbox.empty():
            self._inbox.get_nowait()
        suite_bits = UNDEFINED_SUITE if self.fault is CbkeFault.UNSUPPORTED_SUITE else 1 << (self.suite - 1)
        identity = device_identity(self.host.spec, self.suite,
                                   unknown_issuer=self.fault is CbkeFault.UNKNOWN_ISSUER)
        sizes = SUITES[self.suite]
        await self._send("initiate_key_establishment",
                         key_establishment_suite=KeyEstablishmentSuite(suite_bits),
                         ephemeral_data_generate_time=GENERATE_TIME_S,
                         confirm_key_generate_time=GENERATE_TIME_S, identity=identity.certificate)
        try:
            try:
                response = await self._expect("initiate_key_establishment_response", ANSWER_SLACK_S)
            except TimeoutError:
                self.outcome = "no answer"
                return RETRY_S
            hub_certificate = bytes(response.identity)
            if (int(response.requested_key_establishment_suite) != suite_bits
                    or len(hub_certificate) != sizes.certificate_length):
                await self._terminate(KeyEstablishmentStatus.BAD_MESSAGE)
                raise _Terminated(KeyEstablishmentStatus.BAD_MESSAGE)
            if self.fault is CbkeFault.SILENT:
                self.outcome = "silent (fault)"
                return None
            ephemeral = EphemeralKey.generate(self.suite)
            sent_key = ephemeral.public_key
            if self.fault is CbkeFault.CORRUPT_EPHEMERAL:
                sent_key = EphemeralKey.generate(self.suite).public_key   # a valid point, not ours
            await asyncio.sleep(COMPUTE_S)
            await self._send("ephemeral_data", ephemeral_data=sent_key)
            hub_ephemeral = await self._expect("ephemeral_data_response",
                                               int(response.ephemeral_data_generate_time) + ANSWER_SLACK_S)
            try:
                keys = establish(identity, ephemeral, partner_certificate=hub_certificate,
                                 partner_ephemeral_public_key=bytes(hub_ephemeral.ephemeral_data),
                                 am_initiator=True)
            except CertificateError:
                await self._terminate(KeyEstablishmentStatus.BAD_MESSAGE)
                raise _Terminated(KeyEstablishmentStatus.BAD_MESSAGE) from None
            await asyncio.sleep(COMPUTE_S)
            await self._send("confirm_key_data", secure_message_authentication_code=keys.mac_u)
            confirm = await self._expect("confirm_key_data_response",
                                         int(response.confirm_key_generate_time) + ANSWER_SLACK_S)
            if bytes(confirm.secure_message_authentication_code) != keys.mac_v:
                await self._terminate(KeyEstablishmentStatus.BAD_KEY_CONFIRM)
                raise _Terminated(KeyEstablishmentStatus.BAD_KEY_CONFIRM)
        except _Terminated as exc:
            self.outcome = f"terminated: {KeyEstablishmentStatus(exc.status).name}"
            LOGGER.info("%s: key establishment terminated (%s)", self.host.spec.eui64, self.outcome)
            if exc.status == KeyEstablishmentStatus.NO_RESOURCES:
                return float(max(exc.wait_time, 1))
            return None
        except TimeoutError:
            self.outcome = "no answer"
            return None
        self.link_key = keys.link_key
        self.outcome = "established"
        return None
