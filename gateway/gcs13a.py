"""The GPF's GBCS face (SECMP0015): the hub's Gas Proxy Function answers GCS13a (Read GSME/GPF
Instantaneous Consumption Register) itself, with the value the GSME last pushed.

A GCS13a command (from the supplier, MACed by the Access Control Broker) is checked as a device checks
a command: it must read as GBCS, be a command for GCS13a, be addressed to the GPF, carry a valid MAC and
an originator counter above every one accepted before; else :class:`GpfCommandRefused` names why.

The response is built as the DCC's RTDS has it: the GPF is its business originator, the command's
originator its target and counter; its grouping header's date-time is the value's DLMS date-time with
the clock-status octet ``gateway.gpf.classify`` gave (0x00 reliable GPF time, 0x04 reliable GSME time,
0x02 unreliable, 0x01 invalid); its content one encrypted GBZ component with the Read Attributes
Response of Divisor, Multiplier, UnitOfMeasure and CurrentSummationDelivered (``gbcs.content``); it
is MACed with the target's key. Reliability is about the clock; the value's age is reported beside
it (``age_s``), never folded into the status.

The GPF's own Entity ID on the bench is the hub's coordinator EUI-64 (with the TEST-ONLY PKI's
"GPF" device keys, ``gateway.bench.bench_keystore``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import gbcs
from gbcs.content import GasRegisters, gcs13a_command_content, gcs13a_response_content
from hanrig_errors import CheckFailed

if TYPE_CHECKING:
    from .gpf_service import GasRecord

GCS13A: Final = 0x0074


class GpfCommandRefused(CheckFailed):
    """A command the GPF does not answer; ``reason`` names the failed check."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"GPF refused the GCS13a command ({reason}): {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Gcs13aAnswer:
    """One GCS13a exchange with the GPF: the octets both ways, the response decoded, and the push it
    reports."""

    command: bytes
    response: bytes
    message: gbcs.Message
    decoded: dict[str, Any]
    security: gbcs.SecurityReport

    def to_dict(self) -> dict[str, Any]:
        summary = self.decoded.get("gcs13a", {})
        return {"use_case": "GCS13a", "command": self.command.hex(), "response": self.response.hex(),
                "mac": self.security.mac.value, "originator": self.message.originator.hex(),
                "target": self.message.target.hex(), "originator_counter": self.message.originator_counter,
                "date_time": summary.get("date_time"), "consumption": summary.get("consumption"),
                "unit": summary.get("unit"), "registers": summary.get("registers"), "content": self.decoded}


class GasProxyGbcs:
    """The GPF's command checks and GCS13a answers for one GPF identity."""

    def __init__(self, gpf_id: bytes, security: gbcs.Security) -> None:
        self.gpf_id = gpf_id
        self.security = security
        self.tracker = gbcs.CounterTracker()
        self.refused: list[str] = []

    def command(self, originator: bytes, counter: int) -> gbcs.Message:
        """A GCS13a command for this GPF, MACed as the Access Control Broker does."""
        message = gbcs.command(originator, self.gpf_id, counter, GCS13A, gcs13a_command_content())
        return self.security.apply_mac(message)

    def answer(self, data: bytes, record: GasRecord) -> bytes:
        """The GPF's response to the GCS13a command ``data`` from the push ``record``."""
        try:
            command = gbcs.read_message(data)
        except gbcs.GbcsError as exc:
            raise self._refuse("malformed", str(exc)) from None
        if command.cra_flag != 1 or command.message_code != GCS13A:
            raise self._refuse("use case", f"message code 0x{command.message_code:04x}, CRA flag "
                                           f"{command.cra_flag}: not a GCS13a command")
        if command.target != self.gpf_id:
            raise self._refuse("target", f"addressed to {command.target.hex()}, "
                                         f"not the GPF {self.gpf_id.hex()}")
        mac = self.security.verify_mac(command)
        if mac is not gbcs.Verdict.VALID:
            raise self._refuse("mac", f"the command's MAC is {mac.value}")
        try:
            self.tracker.accept(command)
        except gbcs.CounterRejected as exc:
            raise self._refuse(exc.reason, str(exc)) from None
        push = record.push
        registers = GasRegisters(push.summation or 0, push.multiplier, push.divisor, push.unit)
        header = gbcs.response(self.gpf_id, command.originator, command.originator_counter, GCS13A, b"",
                               date_time=record.reading.dlms_datetime)
        content = gcs13a_response_content(header, registers, self.security)
        return self.security.apply_mac(header.with_(content=content)).to_bytes()

    def exchange(self, command: gbcs.Message, record: GasRecord) -> Gcs13aAnswer:
        data = command.to_bytes()
        response = self.answer(data, record)
        message = gbcs.read_message(response)
        return Gcs13aAnswer(data, response, message, gbcs.decode_content(message, self.security),
                            self.security.check(message))

    def _refuse(self, reason: str, detail: str) -> GpfCommandRefused:
        self.refused.append(f"{reason}: {detail}")
        return GpfCommandRefused(reason, detail)
