"""The virtual NCP's CBKE commands (issue 13): EmberZNet's key establishment crypto engine, with real
crypto (``certs.cbke``), so that a host driving bellows' CBKE commands exercises the whole path.

Suite 1: ``getCertificate``, ``setPreinstalledCbkeData``, ``generateCbkeKeys`` (-> callback
``generateCbkeKeysHandler``), ``calculateSmacs`` (-> ``calculateSmacsHandler``),
``clearTemporaryDataMaybeStoreLinkKey``; suite 2 the ``...283k1`` set, with ``savePreinstalledCbkeData283k1``.
As on a real NCP there is one set of temporary data (one ephemeral key, one unconfirmed link key) at a
time; storing the link key puts it in the key table for the partner the certificate names.

The NCP holds the TEST-ONLY hub certificates of ``certs.testpki.cbke_test_pki`` for its own EUI-64, as
a development-kit NCP holds Certicom test certificates in its tokens.
"""

from __future__ import annotations

import logging
from typing import Any

import bellows.types as t
import zigpy.types as zigpy_t

from certs.cbke import SUITES, CbkeIdentity, EphemeralKey, SessionKeys, establish
from certs.exceptions import CertificateError
from certs.testpki import cbke_test_pki

LOGGER = logging.getLogger(__name__)


class NcpCbkeState:
    """The NCP's CBKE tokens and temporary data."""

    def __init__(self, ieee: zigpy_t.EUI64) -> None:
        devices = (("HUB", str(ieee)),)
        self.identities: dict[int, CbkeIdentity] = {
            suite: next(iter(cbke_test_pki(suite, devices=devices).identities.values())) for suite in SUITES}
        self.ephemeral: EphemeralKey | None = None
        self.keys: SessionKeys | None = None
        self.partner: bytes | None = None
        self.commands: list[str] = []          # what the host asked for (tests check the NCP did the work)


class CbkeCommands:
    """The CBKE group's mixin of ``EzspNcp`` (see ``commands/__init__.py``)."""

    ieee: zigpy_t.EUI64
    nvm: Any
    _cbke_state: NcpCbkeState | None = None

    @property
    def cbke(self) -> NcpCbkeState:
        if self._cbke_state is None:
            self._cbke_state = NcpCbkeState(self.ieee)
        return self._cbke_state

    # ------------------------------------------------------------------ certificates
    async def _cmd_getCertificate(self, after: list) -> dict[str, Any]:
        self.cbke.commands.append("getCertificate")
        return {"status": t.sl_Status.OK,
                "localCert": t.EmberCertificateData(self.cbke.identities[1].certificate)}

    async def _cmd_getCertificate283k1(self, after: list) -> dict[str, Any]:
        self.cbke.commands.append("getCertificate283k1")
        return {"status": t.sl_Status.OK,
                "localCert": t.EmberCertificate283k1Data(self.cbke.identities[2].certificate)}

    async def _cmd_setPreinstalledCbkeData(self, after: list, caPublic: Any, myCert: Any,
                                           myKey: Any) -> dict[str, Any]:
        self.cbke.identities[1] = CbkeIdentity(1, bytes(myCert), int.from_bytes(bytes(myKey), "big"),
                                               bytes(caPublic))
        return {"status": t.sl_Status.OK}

    async def _cmd_savePreinstalledCbkeData283k1(self, after: list) -> dict[str, Any]:
        return {"status": t.sl_Status.OK}  # the tokens already hold the suite 2 data

    # ------------------------------------------------------------------ the exchange
    def _generate(self, suite: int, after: list, handler: str, key_type: type) -> dict[str, Any]:
        self.cbke.commands.append(handler)
        self.cbke.ephemeral = EphemeralKey.generate(suite)
        self.cbke.keys = None
        after.append((handler, {"status": t.sl_Status.OK,
                                "ephemeralPublicKey": key_type(self.cbke.ephemeral.public_key)}))
        return {"status": t.sl_Status.OK}

    async def _cmd_generateCbkeKeys(self, after: list) -> dict[str, Any]:
        return self._generate(1, after, "generateCbkeKeysHandler", t.EmberPublicKeyData)

    async def _cmd_generateCbkeKeys283k1(self, after: list) -> dict[str, Any]:
        return self._generate(2, after, "generateCbkeKeysHandler283k1", t.EmberPublicKey283k1Data)

    def _smacs(self, suite: int, after: list, handler: str, am_initiator: bool, certificate: Any,
               ephemeral: Any) -> dict[str, Any]:
        state = self.cbke
        state.commands.append(handler)
        if state.ephemeral is None or state.ephemeral.suite != suite:
            return {"status": t.sl_Status.INVALID_STATE}
        try:
            state.keys = establish(state.identities[suite], state.ephemeral,
                                   partner_certificate=bytes(certificate),
                                   partner_ephemeral_public_key=bytes(ephemeral),
                                   am_initiator=bool(am_initiator))
        except CertificateError as exc:
            LOGGER.info("ezsp ncp: calculateSmacs: %s", exc)
            after.append((handler, {"status": t.sl_Status.FAIL, "initiatorSmac": t.EmberSmacData(bytes(16)),
                                    "responderSmac": t.EmberSmacData(bytes(16))}))
            return {"status": t.sl_Status.OK}
        state.partner = SUITES[suite].subject(bytes(certificate))
        after.append((handler, {"status": t.sl_Status.OK, "initiatorSmac": t.EmberSmacData(state.keys.mac_u),
                                "responderSmac": t.EmberSmacData(state.keys.mac_v)}))
        return {"status": t.sl_Status.OK}

    async def _cmd_calculateSmacs(self, after: list, amInitiator: Any, partnerCertificate: Any,
                                  partnerEphemeralPublicKey: Any) -> dict[str, Any]:
        return self._smacs(1, after, "calculateSmacsHandler", amInitiator, partnerCertificate,
                           partnerEphemeralPublicKey)

    async def _cmd_calculateSmacs283k1(self, after: list, amInitiator: Any, partnerCertificate: Any,
                                       partnerEphemeralPublicKey: Any) -> dict[str, Any]:
        return self._smacs(2, after, "calculateSmacsHandler283k1", amInitiator, partnerCertificate,
                           partnerEphemeralPublicKey)

    def _clear(self, store: bool, name: str) -> dict[str, Any]:
        state = self.cbke
        state.commands.append(name)
        if store and state.keys is not None and state.partner is not None:
            partner = zigpy_t.EUI64(state.partner[::-1])   # certificates are big-endian, zigpy's EUI64 not
            index = next((i for i, (ieee, _) in self.nvm.key_table.items() if ieee == partner),
                         len(self.nvm.key_table))
            self.nvm.key_table[index] = (partner, zigpy_t.KeyData(state.keys.link_key))
        state.ephemeral = state.keys = state.partner = None
        return {"status": t.sl_Status.OK}

    async def _cmd_clearTemporaryDataMaybeStoreLinkKey(self, after: list,
                                                       storeLinkKey: Any) -> dict[str, Any]:
        return self._clear(bool(storeLinkKey), "clearTemporaryDataMaybeStoreLinkKey")

    async def _cmd_clearTemporaryDataMaybeStoreLinkKey283k1(self, after: list,
                                                            storeLinkKey: Any) -> dict[str, Any]:
        return self._clear(bool(storeLinkKey), "clearTemporaryDataMaybeStoreLinkKey283k1")


COMMANDS = {
    "getCertificate": CbkeCommands._cmd_getCertificate,
    "getCertificate283k1": CbkeCommands._cmd_getCertificate283k1,
    "setPreinstalledCbkeData": CbkeCommands._cmd_setPreinstalledCbkeData,
    "savePreinstalledCbkeData283k1": CbkeCommands._cmd_savePreinstalledCbkeData283k1,
    "generateCbkeKeys": CbkeCommands._cmd_generateCbkeKeys,
    "generateCbkeKeys283k1": CbkeCommands._cmd_generateCbkeKeys283k1,
    "calculateSmacs": CbkeCommands._cmd_calculateSmacs,
    "calculateSmacs283k1": CbkeCommands._cmd_calculateSmacs283k1,
    "clearTemporaryDataMaybeStoreLinkKey": CbkeCommands._cmd_clearTemporaryDataMaybeStoreLinkKey,
    "clearTemporaryDataMaybeStoreLinkKey283k1": CbkeCommands._cmd_clearTemporaryDataMaybeStoreLinkKey283k1,
}
