"""EZSP commands of the virtual NCP: security.

Initial and current security state, the network and trust centre link keys, the key table (kept in NVM),
transient link keys (install codes). CBKE commands belong here. Handlers and the registration table
follow ``hal.ezsp_stick.commands``.
"""

from __future__ import annotations

import logging
from typing import Any

import bellows.types as t
import zigpy.types as zigpy_t

from ..codec import zeroed
from . import Handler

LOGGER = logging.getLogger("hal.ezsp_stick.ncp")  # one logger for the whole NCP


class SecurityCommands:
    """Security: a mixin of :class:`~hal.ezsp_stick.ncp.EzspNcp` (``self`` is the NCP)."""

    def _network_key(self) -> zigpy_t.KeyData:
        return zigpy_t.KeyData(self.han.network.network_key)

    def _tc_link_key(self) -> zigpy_t.KeyData:
        return zigpy_t.KeyData(self.han.network.tc_link_key)

    def _key_table_size(self) -> int:
        return self._config[t.EzspConfigId.CONFIG_KEY_TABLE_SIZE]

    async def _cmd_setInitialSecurityState(self, after: list,
                                           state: t.EmberInitialSecurityState) -> dict[str, Any]:
        if self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        self._initial_security = state
        self.nvm.security_bitmask = int(state.bitmask)
        return {"status": t.sl_Status.OK}

    async def _cmd_getCurrentSecurityState(self, after: list) -> dict[str, Any]:
        bitmask = t.EmberCurrentSecurityBitmask.HAVE_TRUST_CENTER_LINK_KEY
        if self.nvm.security_bitmask & t.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY:
            bitmask |= t.EmberCurrentSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY
        state = t.EmberCurrentSecurityState(bitmask=bitmask, trustCenterLongAddress=self.ieee)
        return {"status": t.sl_Status.OK, "state": state}

    async def _cmd_getKey(self, after: list, keyType: t.EmberKeyType) -> dict[str, Any]:
        if not self._formed():
            return {"status": t.sl_Status.NOT_FOUND}
        if keyType == t.EmberKeyType.CURRENT_NETWORK_KEY:
            key, partner = self._network_key(), zigpy_t.EUI64.convert("00:00:00:00:00:00:00:00")
            counter = self._nwk_frame_counter
        elif keyType == t.EmberKeyType.TRUST_CENTER_LINK_KEY:
            key, partner, counter = self._tc_link_key(), self.ieee, 0
        else:
            return {"status": t.sl_Status.NOT_FOUND}
        bitmask = (t.EmberKeyStructBitmask.KEY_HAS_SEQUENCE_NUMBER
                   | t.EmberKeyStructBitmask.KEY_HAS_OUTGOING_FRAME_COUNTER)
        return {"status": t.sl_Status.OK, "keyStruct": t.EmberKeyStruct(
            bitmask=bitmask, type=keyType, key=key, outgoingFrameCounter=counter, incomingFrameCounter=0,
            sequenceNumber=0, partnerEUI64=partner)}

    async def _cmd_exportKey(self, after: list, context: t.SecurityManagerContextV13) -> dict[str, Any]:
        if context.core_key_type == t.SecurityManagerKeyType.NETWORK:
            key = self._network_key()
        elif context.core_key_type == t.SecurityManagerKeyType.TC_LINK:
            key = self._tc_link_key()
        else:
            return {"status": t.sl_Status.NOT_FOUND, "context": context}
        return {"status": t.sl_Status.OK, "key": key, "context": context}

    async def _cmd_getNetworkKeyInfo(self, after: list) -> dict[str, Any]:
        info = t.SecurityManagerNetworkKeyInfo(
            network_key_set=self._formed(), alternate_network_key_set=False, network_key_sequence_number=0,
            alt_network_key_sequence_number=0, network_key_frame_counter=self._nwk_frame_counter)
        return {"status": t.sl_Status.OK, "network_key_info": info}

    async def _cmd_clearKeyTable(self, after: list) -> dict[str, Any]:
        self.nvm.key_table.clear()
        return {"status": t.sl_Status.OK}

    async def _cmd_findKeyTableEntry(self, after: list, address: zigpy_t.EUI64,
                                     linkKey: bool) -> dict[str, Any]:
        index = next((i for i, (ieee, _) in self.nvm.key_table.items() if ieee == address), 0xFF)
        return {"index": index}

    async def _cmd_eraseKeyTableEntry(self, after: list, index: int) -> dict[str, Any]:
        if self.nvm.key_table.pop(index, None) is None:
            return {"status": t.sl_Status.NOT_FOUND}
        return {"status": t.sl_Status.OK}

    async def _cmd_importLinkKey(self, after: list, index: int, address: zigpy_t.EUI64,
                                 key: zigpy_t.KeyData) -> dict[str, Any]:
        if index >= self._key_table_size():
            return {"status": t.sl_Status.INVALID_INDEX}
        self.nvm.key_table[index] = (address, key)
        return {"status": t.sl_Status.OK}

    async def _cmd_addOrUpdateKeyTableEntry(self, after: list, address: zigpy_t.EUI64, linkKey: bool,
                                            keyData: zigpy_t.KeyData) -> dict[str, Any]:
        index = next((i for i, (ieee, _) in self.nvm.key_table.items() if ieee == address), None)
        if index is None:
            index = next((i for i in range(self._key_table_size()) if i not in self.nvm.key_table), None)
        if index is None:
            return {"status": t.sl_Status.FULL}
        self.nvm.key_table[index] = (address, keyData)
        return {"status": t.sl_Status.OK}

    async def _cmd_exportLinkKeyByIndex(self, after: list, index: int) -> dict[str, Any]:
        if index not in self.nvm.key_table:
            return {"status": t.sl_Status.NOT_FOUND}
        ieee, key = self.nvm.key_table[index]
        context = zeroed(t.SecurityManagerContextV13).replace(
            core_key_type=t.SecurityManagerKeyType.APP_LINK, key_index=index, eui64=ieee)
        meta = t.SecurityManagerAPSKeyMetadata(bitmask=0, outgoing_frame_counter=0, incoming_frame_counter=0,
                                               ttl_in_seconds=0)
        return {"status": t.sl_Status.OK, "eui64": ieee, "context": context, "plaintext_key": key,
                "key_data": meta}

    async def _cmd_getKeyTableEntry(self, after: list, index: int) -> dict[str, Any]:
        if index >= self._key_table_size():
            return {"status": t.sl_Status.INVALID_INDEX}
        if index not in self.nvm.key_table:
            return {"status": t.sl_Status.NOT_FOUND}
        ieee, key = self.nvm.key_table[index]
        return {"status": t.sl_Status.OK, "keyStruct": t.EmberKeyStruct(
            bitmask=t.EmberKeyStructBitmask.KEY_HAS_PARTNER_EUI64, type=t.EmberKeyType.APPLICATION_LINK_KEY,
            key=key, outgoingFrameCounter=0, incomingFrameCounter=0, sequenceNumber=0, partnerEUI64=ieee)}

    async def _cmd_importTransientKey(self, after: list, eui64: zigpy_t.EUI64, plaintext_key: zigpy_t.KeyData,
                                      flags: int = 0) -> dict[str, Any]:
        self.han.add_transient_key(eui64, bytes(plaintext_key))
        return {"status": t.sl_Status.OK}

    async def _cmd_addTransientLinkKey(self, after: list, partner: zigpy_t.EUI64,
                                       transientKey: zigpy_t.KeyData) -> dict[str, Any]:
        self.han.add_transient_key(partner, bytes(transientKey))
        return {"status": t.sl_Status.OK}


# EZSP command name -> handler (see hal.ezsp_stick.commands for how to add one)
COMMANDS: dict[str, Handler] = {
    "setInitialSecurityState": SecurityCommands._cmd_setInitialSecurityState,
    "getCurrentSecurityState": SecurityCommands._cmd_getCurrentSecurityState,
    "getKey": SecurityCommands._cmd_getKey,
    "exportKey": SecurityCommands._cmd_exportKey,
    "getNetworkKeyInfo": SecurityCommands._cmd_getNetworkKeyInfo,
    "clearKeyTable": SecurityCommands._cmd_clearKeyTable,
    "findKeyTableEntry": SecurityCommands._cmd_findKeyTableEntry,
    "eraseKeyTableEntry": SecurityCommands._cmd_eraseKeyTableEntry,
    "importLinkKey": SecurityCommands._cmd_importLinkKey,
    "addOrUpdateKeyTableEntry": SecurityCommands._cmd_addOrUpdateKeyTableEntry,
    "exportLinkKeyByIndex": SecurityCommands._cmd_exportLinkKeyByIndex,
    "getKeyTableEntry": SecurityCommands._cmd_getKeyTableEntry,
    "importTransientKey": SecurityCommands._cmd_importTransientKey,
    "addTransientLinkKey": SecurityCommands._cmd_addTransientLinkKey,
}
