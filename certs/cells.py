"""Trust anchor cells and the SECMP0063 network-operator check.

A cell is identified by (RemotePartyRole, key usage, cell usage management | prePaymentTopUp) and holds
one certificate. ``InstalledCell`` is what a meter reports (the HAN path reads it over the Tunneling
cluster; ``--cert-dir`` reads it from files). Cell file names, the one mapping ``--cert-dir`` uses:

    [TEST-ONLY-]<role>-<DS|KA>-<management|prepaymentTopUp>.(der|pem|crt)   a trust anchor cell
    [TEST-ONLY-]root.(der|pem|crt)                                           the root cell
    [TEST-ONLY-]device-<anything>.(der|pem|crt)                              a device certificate
    [TEST-ONLY-]ca-<anything>.(der|pem|crt)                                  an issuing CA, for path building

``<role>`` is the GBCS camelCase name (supplier, networkOperator, accessControlBroker, ...).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hanrig_errors import eui64_text

from .model import CertKind, KeyUsage, RemotePartyRole, SmkiCertificate
from .report import Check, failed, passed, warned


class CellUsage(enum.IntEnum):
    """Trust anchor cell usage (GBCS cell id)."""

    MANAGEMENT = 0
    PREPAYMENT_TOP_UP = 1

    @property
    def camel(self) -> str:
        return "management" if self is CellUsage.MANAGEMENT else "prepaymentTopUp"


@dataclass(frozen=True)
class CellId:
    """Which trust anchor cell: role, key usage and usage."""

    remote_party_role: RemotePartyRole
    key_usage: KeyUsage
    cell_usage: CellUsage = CellUsage.MANAGEMENT

    @property
    def name(self) -> str:
        """The cell's canonical name, also its file stem: ``networkOperator-DS-management`` or ``root``."""
        if self.remote_party_role is RemotePartyRole.ROOT:
            return "root"
        return f"{self.remote_party_role.camel}-{self.key_usage.short}-{self.cell_usage.camel}"


ROOT_CELL = CellId(RemotePartyRole.ROOT, KeyUsage.KEY_CERT_SIGN)


@dataclass(frozen=True)
class InstalledCell:
    """One trust anchor cell as read from a device: its id and the DER it holds (possibly damaged)."""

    remote_party_role: RemotePartyRole
    key_usage: KeyUsage
    cell_usage: CellUsage
    der: bytes = field(repr=False)

    def __post_init__(self) -> None:
        # The HAN path decodes plain integers off the wire; accept them and keep typed values.
        object.__setattr__(self, "remote_party_role", RemotePartyRole(self.remote_party_role))
        object.__setattr__(self, "key_usage", KeyUsage(self.key_usage))
        object.__setattr__(self, "cell_usage", CellUsage(self.cell_usage))

    @property
    def cell_id(self) -> CellId:
        return CellId(self.remote_party_role, self.key_usage, self.cell_usage)

    @property
    def name(self) -> str:
        return self.cell_id.name


# Typical cells of an ESME / GSME / GPF (shared gb-han-reference.md; the test PKI installs these).
METER_CELLS: tuple[CellId, ...] = (
    ROOT_CELL,
    CellId(RemotePartyRole.RECOVERY, KeyUsage.DIGITAL_SIGNATURE),
    CellId(RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE),
    CellId(RemotePartyRole.SUPPLIER, KeyUsage.KEY_AGREEMENT),
    CellId(RemotePartyRole.SUPPLIER, KeyUsage.KEY_AGREEMENT, CellUsage.PREPAYMENT_TOP_UP),
    CellId(RemotePartyRole.NETWORK_OPERATOR, KeyUsage.DIGITAL_SIGNATURE),
    CellId(RemotePartyRole.NETWORK_OPERATOR, KeyUsage.KEY_AGREEMENT),
    CellId(RemotePartyRole.ACCESS_CONTROL_BROKER, KeyUsage.DIGITAL_SIGNATURE),
    CellId(RemotePartyRole.ACCESS_CONTROL_BROKER, KeyUsage.KEY_AGREEMENT),
    CellId(RemotePartyRole.TRANSITIONAL_COS, KeyUsage.DIGITAL_SIGNATURE),
)

# What each role must hold, so that a verification never passes over whatever happens to be there
# (issue 15): a smart meter (ESME, GSME) holds every cell above and its own DS and KA device
# certificates. IHD, PPMID and HCALCS are GBCS Type 2 devices: no SMKI cells are required of them.
# METER stands for "an ESME or GSME" when only the contents say it is a meter (see ``infer_role``).
METER = "METER"
METER_ROLES = ("ESME", "GSME", METER)
TYPE2_ROLES = ("IHD", "PPMID", "HCALCS")
KNOWN_ROLES = (*METER_ROLES, *TYPE2_ROLES)
ROLE_REQUIRED_CELLS: dict[str, tuple[CellId, ...]] = {role: METER_CELLS for role in METER_ROLES}
ROLE_REQUIRED_DEVICE_KEYS: dict[str, tuple[KeyUsage, ...]] = {
    role: (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT) for role in METER_ROLES}


def infer_role(cells: Iterable[CellId]) -> str | None:
    """The role a set of credentials shows when nobody named it: only meters hold trust anchor cells."""
    return METER if any(True for _ in cells) else None


def check_required(role: str | None, cells: Iterable[CellId],
                   device_key_usages: set[KeyUsage]) -> list[Check]:
    """``cells.missing`` / ``device.missing``: every cell and device certificate ``role`` requires
    (nothing when no role is given: the caller decides what it expects)."""
    if role is None:
        return []
    role = role.upper()
    if role not in KNOWN_ROLES:
        return [failed("cells.role_unknown", f"role {role!r} is none of {', '.join(KNOWN_ROLES)}")]
    label = "meter" if role == METER else role
    present = set(cells)
    checks: list[Check] = []
    for cell in ROLE_REQUIRED_CELLS.get(role, ()):
        if cell not in present:
            checks.append(failed("cells.missing", f"not installed; every {label} must hold it",
                                 f"cell {cell.name}"))
    for usage in ROLE_REQUIRED_DEVICE_KEYS.get(role, ()):
        if usage not in device_key_usages:
            checks.append(failed("device.missing", f"none found; every {label} must hold its own",
                                 f"device {usage.short} certificate"))
    if not checks:
        required = len(ROLE_REQUIRED_CELLS.get(role, ()))
        message = (f"all {required} cells and the device certificates every {label} must hold are there"
                   if required else f"a {label} needs no trust anchor cells")
        checks.append(passed("cells.required", message))
    return checks


CERT_SUFFIXES = (".der", ".pem", ".crt")
TEST_ONLY_PREFIX = "TEST-ONLY-"


class FileRole(enum.Enum):
    """What a file in a ``--cert-dir`` holds, by its name."""

    CELL = "cell"
    DEVICE = "device"
    CA = "ca"


_CELL_STEM = re.compile(r"(?P<role>[A-Za-z]+)-(?P<ku>DS|KA)-(?P<usage>management|prepaymentTopUp)")


def classify_file_name(file_name: str) -> tuple[FileRole, CellId | None] | None:
    """Map a file name to what it holds (see the module docstring); None when it matches no pattern."""
    stem, dot, suffix = file_name.rpartition(".")
    if not dot or f".{suffix.lower()}" not in CERT_SUFFIXES:
        return None
    stem = stem.removeprefix(TEST_ONLY_PREFIX)
    if stem == "root":
        return FileRole.CELL, ROOT_CELL
    if stem.startswith("device-"):
        return FileRole.DEVICE, None
    if stem.startswith("ca-"):
        return FileRole.CA, None
    match = _CELL_STEM.fullmatch(stem)
    if match is None:
        return None
    role = RemotePartyRole.from_camel(match["role"])
    if role is None or role is RemotePartyRole.ROOT:
        return None
    usage = CellUsage.MANAGEMENT if match["usage"] == "management" else CellUsage.PREPAYMENT_TOP_UP
    return FileRole.CELL, CellId(role, KeyUsage.from_short(match["ku"]), usage)


def check_cell_contents(cell: CellId, cert: SmkiCertificate) -> Iterator[Check]:
    """``cell.role_mismatch`` / ``cell.key_usage_mismatch``: the certificate must fit its cell."""
    where = f"cell {cell.name}"
    if cell.remote_party_role is RemotePartyRole.ROOT:
        if cert.kind is not CertKind.ROOT:
            yield failed("cell.role_mismatch", f"holds a {cert.kind.value} certificate {cert.label}; "
                                               "the root cell needs a self-signed root", where)
        else:
            yield passed("cell.role", f"holds root {cert.label}", where)
        return
    if cert.kind is not CertKind.ORGANISATION:
        yield failed("cell.role_mismatch",
                     f"holds a {cert.kind.value} certificate {cert.label}; "
                     f"expected a {cell.remote_party_role.camel} organisation certificate", where)
        return
    if cert.role is not cell.remote_party_role:
        held = cert.role.camel if cert.role is not None else f"OU={cert.role_text!r}"
        yield failed("cell.role_mismatch",
                     f"holds a {held} certificate {cert.label}; expected {cell.remote_party_role.camel}",
                     where)
    else:
        yield passed("cell.role", f"role {cert.role.camel}", where)
    usage = cert.leaf_key_usage
    if usage is not cell.key_usage:
        held = usage.short if usage is not None else "/".join(sorted(cert.key_usage_bits)) or "no keyUsage"
        yield failed("cell.key_usage_mismatch",
                     f"holds a {held} certificate; the cell is {cell.key_usage.short}",
                     where)
    else:
        yield passed("cell.key_usage", f"key usage {usage.short}", where)


def check_network_operator(cells: dict[CellId, SmkiCertificate], expected: bytes | None,
                           any_no_cell: bool) -> Iterator[Check]:
    """SECMP0063: every networkOperator cell must carry the NO Entity ID registered for the meter point.

    ``cells`` holds the cells that parsed; ``any_no_cell`` is True when a networkOperator cell exists at all
    (even one that failed to parse), so a damaged cell is not reported as a missing one.
    """
    no_cells = {cid: cert for cid, cert in cells.items()
                if cid.remote_party_role is RemotePartyRole.NETWORK_OPERATOR}
    if expected is None:
        if no_cells:
            yield warned("secmp0063.not_checked", "no expected network operator given "
                         "(rig devices[].network_operator / --expect-network-operator)", "SECMP0063")
        return
    want = eui64_text(expected)
    if not any_no_cell:
        yield failed("secmp0063.no_network_operator_cell",
                     f"no networkOperator cell installed; expected network operator {want}", "SECMP0063")
        return
    for cid, cert in sorted(no_cells.items(), key=lambda item: item[0].name):
        where = f"cell {cid.name}"
        got = cert.entity_id
        if got == expected:
            yield passed("secmp0063.network_operator", f"Entity ID {want} is the expected network operator",
                         where)
        else:
            got_text = eui64_text(got) if got is not None else "none"
            yield failed("secmp0063.wrong_network_operator",
                         f"holds network operator Entity ID {got_text} ({cert.common_name or cert.label}), "
                         f"expected {want}", where)

