"""The checks the DCC makes on a command before sending it to a device (SECMP0063).

A CS02b Update Security Credentials command that places a Network Operator certificate must place the
expected network operator's: every replacement certificate whose role is networkOperator, or whose
target cell is a networkOperator cell, must carry an Entity ID from the expected set (the network
operators registered for the meter point). :func:`check_update` returns what the command places and
the one-line reason it is refused, naming both Entity IDs; the message is never sent when refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hanrig_errors import eui64_bytes, eui64_text

from .content import CS02B_CODES, decode_content
from .wire import Message


def _eui(raw: bytes | str) -> str:
    return eui64_text(raw if isinstance(raw, bytes) else eui64_bytes(raw))


@dataclass(frozen=True)
class UpdateVerdict:
    """What a CS02b places in networkOperator cells, and why it is refused (None: it may be sent)."""

    placements: list[dict[str, str | None]] = field(default_factory=list)
    refusal: str | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def check_update(message: Message, expected: Iterable[bytes]) -> UpdateVerdict:
    """Check a CS02b against the expected network operator Entity IDs (``GbcsError`` if malformed)."""
    wanted = set(expected)
    if message.message_code not in CS02B_CODES:
        return UpdateVerdict([], None)
    decoded = decode_content(message)
    placements: list[dict[str, str | None]] = []
    refusal = None
    for replacement in decoded["replacements"]:
        certificate, cell = replacement["certificate"], replacement["target_cell"]
        if "networkOperator" not in (certificate.get("role"), cell["remote_party_role"]):
            continue
        entity = certificate.get("entity_id")
        usage = "DS" if cell["key_usage"] == ["digitalSignature"] else "KA"
        where = f"{cell['remote_party_role']}-{usage}-{cell['cell_usage']}"
        placements.append({"cell": where, "entity_id": _eui(entity) if entity else None,
                           "role": certificate.get("role")})
        if refusal is None and (entity is None or bytes.fromhex(entity) not in wanted):
            expected_text = ", ".join(sorted(_eui(e) for e in wanted)) or "none given"
            placed = _eui(entity) if entity else "none"
            refusal = (f"CS02b places network operator Entity ID {placed} in cell {where} for device "
                       f"{_eui(message.target)}; expected network operator {expected_text}")
    return UpdateVerdict(placements, refusal)
