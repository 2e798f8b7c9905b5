"""The EZSP NCP without a serial line: frames in, frames out, checked with bellows' own decoders."""

from __future__ import annotations

import asyncio

import bellows.types as bt
import pytest
from bellows.ezsp import EZSP
from ezsp_fake_han import FakeHan

from hal.ezsp_stick.exceptions import StickConfigError
from hal.ezsp_stick.ncp import EzspNcp, to_status_type


async def _ncp(version: int = 13, *, negotiate: bool = True) -> tuple[EzspNcp, list[bytes]]:
    sent: list[bytes] = []
    ncp = EzspNcp(FakeHan(), send=sent.append, version=version)
    ncp.start()
    if negotiate:
        await _exchange(ncp, sent, bytes([0xF0, 0x00, 0x01, 0x00, 0x00, version]))
    return ncp, sent


async def _exchange(ncp: EzspNcp, sent: list[bytes], frame: bytes) -> bytes:
    before = len(sent)
    ncp.frame_received(frame)
    for _ in range(100):
        if len(sent) > before:
            return sent[before]
        await asyncio.sleep(0.001)
    pytest.fail(f"no answer to {frame.hex()}")


def _decode(version: int, frame: bytes) -> tuple[str, list]:
    protocol = EZSP._BY_VERSION[version](lambda *a: None, None)
    _, frame_id, data = protocol._ezsp_frame_rx(frame)
    name, _, schema = protocol.COMMANDS_BY_ID[frame_id]
    values, _ = bt.deserialize_dict(data, schema)
    return name, list(values.values())


async def test_version_negotiation_from_a_legacy_frame() -> None:
    ncp, sent = await _ncp(13, negotiate=False)
    # before negotiation only `version` is understood
    answer = await _exchange(ncp, sent, bytes([0x10, 0x00, 0x01, 0x18, 0x00]))
    assert _decode(13, answer) == ("invalidCommand", [bt.EzspStatus.ERROR_VERSION_NOT_SET])
    # bellows starts at v4: legacy header [seq, frame control, frame id] + desiredProtocolVersion
    answer = await _exchange(ncp, sent, bytes([0x00, 0x00, 0x00, 4]))
    assert answer[:3] == bytes([0x00, 0x80, 0x00])  # legacy response header
    assert answer[3] == 13 and answer[4] == 2  # protocol version, stack type
    # then the host repeats `version` in the extended (v8+) format
    answer = await _exchange(ncp, sent, bytes([0x01, 0x00, 0x01, 0x00, 0x00, 13]))
    assert _decode(13, answer) == ("version", [13, 2, 0x7440])
    await ncp.stop()


@pytest.mark.parametrize("frame", [
    bytes([0x05, 0x00, 0x01, 0xEE, 0xEE]),  # no such frame id
    bytes([0x06, 0x00, 0x07, 0x00, 0x00]),  # a frame format the NCP does not speak
])
async def test_bad_frames_get_invalid_command_not_a_hang(frame: bytes) -> None:
    ncp, sent = await _ncp(13)
    answer = await _exchange(ncp, sent, frame)
    name, (status,) = _decode(13, answer)
    assert name == "invalidCommand" and answer[0] == frame[0]
    assert status in (bt.EzspStatus.ERROR_INVALID_FRAME_ID, bt.EzspStatus.ERROR_UNSUPPORTED_CONTROL)
    # and the NCP still answers the next command
    answer = await _exchange(ncp, sent, bytes([0x07, 0x00, 0x01, 0x18, 0x00]))  # networkState
    assert _decode(13, answer) == ("networkState", [bt.EmberNetworkStatus.NO_NETWORK])
    await ncp.stop()


async def test_truncated_parameters_are_rejected() -> None:
    ncp, sent = await _ncp(13)
    answer = await _exchange(ncp, sent, bytes([0x08, 0x00, 0x01, 0x52, 0x00]))  # getConfigurationValue, no id
    assert _decode(13, answer) == ("invalidCommand", [bt.EzspStatus.ERROR_TRUNCATED])
    await ncp.stop()


async def test_network_init_raises_stack_status_after_the_response() -> None:
    ncp, sent = await _ncp(14)
    ncp.han.network = ncp.han.network.__class__(formed=True)
    answer = await _exchange(ncp, sent, bytes([0x09, 0x00, 0x01, 0x17, 0x00, 0x00, 0x00]))
    assert _decode(14, answer) == ("networkInit", [bt.sl_Status.OK])
    await asyncio.sleep(0.01)
    name, values = _decode(14, sent[-1])
    assert (name, values) == ("stackStatusHandler", [bt.sl_Status.NETWORK_UP])
    assert sent[-1][1] & 0x18 == 0x10  # asynchronous callback in the frame control
    await ncp.stop()


def test_status_conversion_per_version() -> None:
    assert to_status_type(bt.sl_Status.OK, bt.EzspStatus) == bt.EzspStatus.SUCCESS
    assert to_status_type(bt.sl_Status.NOT_JOINED, bt.EmberStatus) == bt.EmberStatus.NOT_JOINED
    assert to_status_type(bt.sl_Status.NETWORK_UP, bt.sl_Status) == bt.sl_Status.NETWORK_UP


def test_unsupported_version_is_refused_in_one_line() -> None:
    with pytest.raises(StickConfigError, match="protocol version 5 not supported"):
        EzspNcp(FakeHan(), send=lambda data: None, version=5)


def test_the_command_table_names_only_commands_bellows_knows_and_refuses_a_duplicate() -> None:
    """Dispatch is the declarative table of hal.ezsp_stick.commands: every name in it is an EZSP command
    of some version bellows speaks, and two groups claiming one command is an error at import."""
    import types

    from bellows.ezsp import EZSP

    from hal.ezsp_stick import commands
    from hal.ezsp_stick.ncp import SUPPORTED_VERSIONS

    known = {name for v in SUPPORTED_VERSIONS for name in EZSP._BY_VERSION[v].COMMANDS}
    assert set(commands.COMMANDS) <= known
    assert {"version", "formNetwork", "sendUnicast", "getKey"} <= set(commands.COMMANDS)
    clash = types.ModuleType("clash")
    clash.COMMANDS = {"getKey": commands.security.SecurityCommands._cmd_getKey}  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="'getKey' is handled by two groups"):
        commands.merged((*commands.GROUPS, clash))
