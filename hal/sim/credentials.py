"""The trust anchor cells a simulated meter holds, and the credentials faults a bench configures.

Certificates arrive as bytes from the configuration (``[devices.sim] trust_anchors``: cell name -> DER,
names as ``certs.cells`` spells them, e.g. ``networkOperator-DS-management`` or ``root``;
``device_certificates``: ``DS``/``KA`` -> DER). This module never parses a certificate; the meter's GBCS
side (``gbcs.device``, over ``hal.sim.tunnel``) reports what is installed. Faults
(:class:`CredentialsFault`), applied to the bytes installed:

* ``supplier_in_no_cell``: each networkOperator cell holds the supplier certificate of the same key usage;
* ``truncated_cell``: the networkOperator DS cell holds its certificate cut to half its content, inside a
  DER SEQUENCE header rewritten to fit (the cell is there, the certificate is not);
* ``wrong_network_operator`` / ``expired``: the cells in ``fault_cells`` (cell name -> DER, made by whoever
  built the configuration, e.g. from the test PKI) replace the installed ones.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Final


class RemotePartyRole(enum.IntEnum):
    """GBCS RemotePartyRole numbering (the same numbers as ``certs.model.RemotePartyRole``; ``hal``
    imports no ``certs``)."""

    ROOT = 0
    RECOVERY = 1
    SUPPLIER = 2
    NETWORK_OPERATOR = 3
    ACCESS_CONTROL_BROKER = 4
    TRANSITIONAL_COS = 5
    WAN_PROVIDER = 6
    ISSUING_AUTHORITY = 7
    LOAD_CONTROLLER = 8
    OTHER = 127


class KeyUsage(enum.IntEnum):
    """The certified key's usage, numbered as the X.509 KeyUsage bits (GBCS allows exactly one)."""

    DIGITAL_SIGNATURE = 0
    KEY_AGREEMENT = 4
    KEY_CERT_SIGN = 5


class CellUsage(enum.IntEnum):
    """What a trust anchor cell is used for (GBCS)."""

    MANAGEMENT = 0
    PREPAYMENT_TOP_UP = 1



_CELL_NAME: Final = re.compile(r"(?P<role>[A-Za-z]+)-(?P<ku>DS|KA)-(?P<usage>management|prepaymentTopUp)")
_KEY_USAGE_SHORT: Final = {"DS": KeyUsage.DIGITAL_SIGNATURE, "KA": KeyUsage.KEY_AGREEMENT}


class CredentialsFault(enum.StrEnum):
    """What is wrong with the credentials a simulated meter reports (``[devices.sim] credentials_fault``)."""

    NONE = "none"
    WRONG_NETWORK_OPERATOR = "wrong_network_operator"
    SUPPLIER_IN_NO_CELL = "supplier_in_no_cell"
    EXPIRED = "expired"
    TRUNCATED_CELL = "truncated_cell"


FAULTS_FROM_FAULT_CELLS: Final = frozenset({CredentialsFault.WRONG_NETWORK_OPERATOR,
                                            CredentialsFault.EXPIRED})


def _camel(role: RemotePartyRole) -> str:
    head, *rest = role.name.lower().split("_")
    return head + "".join("CoS" if part == "cos" else part.capitalize() for part in rest)


_ROLE_BY_CAMEL: Final = {_camel(role).lower(): role for role in RemotePartyRole}


class CellNameError(ValueError):
    """A trust anchor cell name that names no cell."""


def parse_cell_name(name: str) -> tuple[RemotePartyRole, KeyUsage, CellUsage]:
    """``networkOperator-DS-management`` -> its cell id; ``root`` -> the root cell."""
    if name == "root":
        return RemotePartyRole.ROOT, KeyUsage.KEY_CERT_SIGN, CellUsage.MANAGEMENT
    match = _CELL_NAME.fullmatch(name)
    role = _ROLE_BY_CAMEL.get(match["role"].lower()) if match else None
    if match is None or role is None or role is RemotePartyRole.ROOT:
        raise CellNameError(f"{name!r} is not a trust anchor cell name (<role>-<DS|KA>-<management|"
                            "prepaymentTopUp> or root)")
    usage = CellUsage.MANAGEMENT if match["usage"] == "management" else CellUsage.PREPAYMENT_TOP_UP
    return role, _KEY_USAGE_SHORT[match["ku"]], usage


def cell_name(role: RemotePartyRole, usage: KeyUsage, cell_usage: CellUsage) -> str:
    if role is RemotePartyRole.ROOT:
        return "root"
    ku = "DS" if usage is KeyUsage.DIGITAL_SIGNATURE else "KA"
    return f"{_camel(role)}-{ku}-{'management' if cell_usage is CellUsage.MANAGEMENT else 'prepaymentTopUp'}"


def truncate_der(der: bytes) -> bytes:
    """``der``'s SEQUENCE cut to half its content, with the outer length rewritten to match."""
    header = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    content = der[header:header + (len(der) - header) // 2]
    size = len(content)
    length = bytes([size]) if size < 0x80 else bytes([0x80 | 2]) + size.to_bytes(2, "big")
    return b"\x30" + length + content


def faulty_cells(cells: Mapping[str, bytes], fault: CredentialsFault,
                 fault_cells: Mapping[str, bytes]) -> dict[str, bytes]:
    """The cells a meter with ``fault`` reports instead of ``cells``."""
    out = dict(cells)
    if fault in FAULTS_FROM_FAULT_CELLS:
        out.update(fault_cells)
    elif fault is CredentialsFault.SUPPLIER_IN_NO_CELL:
        for name in cells:
            role, usage, _ = parse_cell_name(name)
            if role is RemotePartyRole.NETWORK_OPERATOR:
                supplier = cells.get(cell_name(RemotePartyRole.SUPPLIER, usage, CellUsage.MANAGEMENT))
                if supplier is not None:
                    out[name] = supplier
    elif fault is CredentialsFault.TRUNCATED_CELL:
        target = cell_name(RemotePartyRole.NETWORK_OPERATOR, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT)
        if target in out:
            out[target] = truncate_der(out[target])
    return out
