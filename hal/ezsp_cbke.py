"""CBKE on an EZSP NCP through bellows (issue 13): the NCP holds the hub's certificate and private key
(its tokens) and does the crypto; the host only moves bytes. bellows exposes the commands but no API
around them, so this module is the one place that speaks them: ``getCertificate[283k1]``,
``generateCbkeKeys[283k1]`` and ``calculateSmacs[283k1]`` (answered by callbacks), and
``clearTemporaryDataMaybeStoreLinkKey[283k1]``, which keeps the link key in the NCP's key table.

The NCP has one set of temporary CBKE data, so one exchange at a time (``busy``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import zigpy.application

CALLBACK_TIMEOUT_S = 10.0
_SUFFIX = {1: "", 2: "283k1"}


class NcpCbkeError(RuntimeError):
    """The NCP refused or failed a CBKE command."""


def _bellows_types() -> Any:
    """bellows' types, imported when an NCP is used: a ``sim://`` run never loads bellows (50 ms)."""
    import bellows.types

    return bellows.types


def is_ezsp(app: zigpy.application.ControllerApplication) -> bool:
    return type(app).__module__.startswith("bellows.") and getattr(app, "_ezsp", None) is not None


class NcpCbke:
    """One exchange's crypto on the NCP of a bellows application."""

    def __init__(self, app: zigpy.application.ControllerApplication, suite: int) -> None:
        self._ezsp: Any = app._ezsp  # bellows keeps its EZSP object private; CBKE has no public API
        self.suite = suite
        self._suffix = _SUFFIX[suite]

    async def _call(self, name: str, **kwargs: Any) -> list[Any]:
        result = await getattr(self._ezsp, name + self._suffix)(**kwargs)
        t = _bellows_types()
        status = t.sl_Status.from_ember_status(result[0])
        if status != t.sl_Status.OK:
            raise NcpCbkeError(f"{name}{self._suffix}: {status!r}")
        return list(result)

    async def _call_with_callback(self, name: str, handler: str, **kwargs: Any) -> list[Any]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def on_frame(frame_name: str, response: list[Any]) -> None:
            if frame_name == handler + self._suffix and not future.done():
                future.set_result(list(response))

        listener = self._ezsp.add_callback(on_frame)
        try:
            await self._call(name, **kwargs)
            async with asyncio.timeout(CALLBACK_TIMEOUT_S):
                response = await future
        finally:
            self._ezsp.remove_callback(listener)
        t = _bellows_types()
        status = t.sl_Status.from_ember_status(response[0])
        if status != t.sl_Status.OK:
            raise NcpCbkeError(f"{handler}{self._suffix}: {status!r}")
        return response

    async def certificate(self) -> bytes:
        return bytes((await self._call("getCertificate"))[1])

    async def ephemeral_public_key(self) -> bytes:
        return bytes((await self._call_with_callback("generateCbkeKeys", "generateCbkeKeysHandler"))[1])

    async def smacs(self, *, am_initiator: bool, partner_certificate: bytes,
                    partner_ephemeral_public_key: bytes) -> tuple[bytes, bytes]:
        """(initiator MAC, responder MAC)."""
        t = _bellows_types()
        cert_type = t.EmberCertificateData if self.suite == 1 else t.EmberCertificate283k1Data
        key_type = t.EmberPublicKeyData if self.suite == 1 else t.EmberPublicKey283k1Data
        response = await self._call_with_callback(
            "calculateSmacs", "calculateSmacsHandler", amInitiator=am_initiator,
            partnerCertificate=cert_type(partner_certificate),
            partnerEphemeralPublicKey=key_type(partner_ephemeral_public_key))
        return bytes(response[1]), bytes(response[2])

    async def finish(self, *, store_link_key: bool) -> None:
        await self._call("clearTemporaryDataMaybeStoreLinkKey", storeLinkKey=store_link_key)
