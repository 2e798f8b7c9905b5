"""The three ways in: loose certificates (``verify``), what a meter reports (``verify_installed``) and a
directory of exported files (``verify_directory``). All return a ``Report`` and raise only for input
that cannot be used at all (``CertificateInputError``).

Per certificate the report carries the profile checks, the chain to the configured roots and, for
device certificates, ``device.hw_serial``; per cell ``cell.*``; and once per meter ``secmp0063.*``.
A cell whose bytes do not decode gets its ``parse.*`` code as a failure instead of stopping the run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from hanrig_errors import CERT_MAX, BadInputFile, read_input

from .cells import (
    CellId,
    FileRole,
    InstalledCell,
    check_cell_contents,
    check_network_operator,
    check_required,
    classify_file_name,
    infer_role,
)
from .chain import check_chain
from .exceptions import CertificateError, CertificateInputError, MalformedCertificate
from .model import CertKind, KeyUsage, RemotePartyRole, SmkiCertificate, load_certificate, parse_eui64
from .profile import check_device_identity, check_profile
from .report import Check, Report, failed, warned


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)


def _load_all(items: Iterable[bytes | SmkiCertificate], label: str) -> list[SmkiCertificate]:
    return [item if isinstance(item, SmkiCertificate) else load_certificate(item, name=f"{label}[{i}]")
            for i, item in enumerate(items)]


def _eui(value: str | bytes | None, what: str) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return parse_eui64(value, what=what)


def _certificate_checks(cert: SmkiCertificate, *, roots: Sequence[SmkiCertificate],
                        intermediates: Sequence[SmkiCertificate], now: dt.datetime,
                        device_eui64: bytes | None) -> list[Check]:
    checks = check_profile(cert)
    if roots:
        checks += check_chain(cert, roots=roots, intermediates=intermediates, now=now)
    else:
        checks.append(warned("chain.not_checked", "no roots configured; chain not verified", cert.label))
    if cert.kind is CertKind.DEVICE:
        if device_eui64 is not None:
            checks.append(check_device_identity(cert, device_eui64))
        else:
            checks.append(warned("device.hw_serial.not_checked", "no device EUI-64 given", cert.label))
    return checks


def verify(certificates: Sequence[bytes | SmkiCertificate], *, roots: Sequence[bytes | SmkiCertificate] = (),
           intermediates: Sequence[bytes | SmkiCertificate] = (), device_eui64: str | bytes | None = None,
           now: dt.datetime | None = None) -> Report:
    """Profile + chain (+ ``device.hw_serial`` for device certificates) for each certificate given."""
    when = _now(now)
    root_certs = _load_all(roots, "root")
    ca_certs = _load_all(intermediates, "ca")
    device = _eui(device_eui64, "device EUI-64")
    checks: list[Check] = []
    for cert in _load_all(certificates, "certificate"):
        checks += _certificate_checks(cert, roots=root_certs, intermediates=ca_certs, now=when,
                                      device_eui64=device)
    return Report.of(checks)


def verify_installed(cells: Sequence[InstalledCell], *, device_eui64: str | bytes | None,
                     expected_network_operator: str | bytes | None, roots: Sequence[bytes | SmkiCertificate],
                     now: dt.datetime | None = None, device_certificates: Sequence[bytes] = (),
                     intermediates: Sequence[bytes | SmkiCertificate] = (),
                     role: str | None = None) -> Report:
    """Verify a meter's trust anchor cells (and device certificates) as it reported them.

    ``roots`` are the trust anchors the bench believes in; ``intermediates`` are issuing CAs used only to
    build paths (device certificates need the device CA). ``expected_network_operator`` is the Entity ID
    registered for the meter point (SECMP0063); ``device_eui64`` is checked against hwSerialNum.
    ``role`` (ESME, GSME, IHD, ...) says which cells and device certificates must be there: a missing
    one is a ``cells.missing`` / ``device.missing`` FAIL (see ``certs.cells.check_required``).
    """
    when = _now(now)
    device = _eui(device_eui64, "device EUI-64")
    expected_no = _eui(expected_network_operator, "expected network operator")
    root_certs = _load_all(roots, "root")
    ca_certs = _load_all(intermediates, "ca")
    checks: list[Check] = []
    parsed: dict[CellId, SmkiCertificate] = {}
    seen: set[CellId] = set()
    for cell in cells:
        cid = cell.cell_id
        where = f"cell {cid.name}"
        if cid in seen:
            checks.append(failed("cell.duplicate", "reported more than once", where))
            continue
        seen.add(cid)
        try:
            cert = load_certificate(cell.der, name=where)
        except MalformedCertificate as exc:
            checks.append(failed(exc.check, exc.detail, where))
            continue
        parsed[cid] = cert
        checks += check_cell_contents(cid, cert)
        checks += _certificate_checks(cert, roots=root_certs, intermediates=ca_certs, now=when,
                                      device_eui64=None)
    any_no = any(cid.remote_party_role is RemotePartyRole.NETWORK_OPERATOR for cid in seen)
    checks += check_network_operator(parsed, expected_no, any_no)
    device_usages: set[KeyUsage] = set()
    for index, der in enumerate(device_certificates):
        name = f"device certificate {index}"
        try:
            cert = load_certificate(der, name=name)
        except MalformedCertificate as exc:
            checks.append(failed(exc.check, exc.detail, name))
            continue
        if cert.leaf_key_usage is not None:  # name it as GBCS does: the device's DS / KA certificate
            device_usages.add(cert.leaf_key_usage)
            cert = replace(cert, name=f"device {cert.leaf_key_usage.short} certificate")
        checks += _certificate_checks(cert, roots=root_certs, intermediates=ca_certs, now=when,
                                      device_eui64=device)
    checks += check_required(role, seen, device_usages)
    return Report.of(checks)


@dataclass(frozen=True)
class CertDirectory:
    """What a ``--cert-dir`` holds, by file name (see ``certs.cells`` for the naming rule)."""

    cells: tuple[InstalledCell, ...]
    device_certificates: tuple[bytes, ...]
    intermediates: tuple[bytes, ...]
    device_names: tuple[str, ...]


def read_cert_directory(directory: Path) -> CertDirectory:
    """Read every certificate file in ``directory``; a certificate-looking file matching no name pattern
    is bad input (so a typo never silently drops a cell)."""
    if not directory.is_dir():
        raise CertificateInputError("input.cert_dir", str(directory), "not a directory")
    cells: list[InstalledCell] = []
    devices: list[bytes] = []
    device_names: list[str] = []
    cas: list[bytes] = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.suffix.lower() not in (".der", ".pem", ".crt"):
            continue
        kind = classify_file_name(path.name)
        if kind is None:
            raise CertificateInputError(
                "input.cert_dir", str(path),
                "file name matches no cell (expected <role>-<DS|KA>-<management|prepaymentTopUp>, root, "
                "device-*, ca-*; optional TEST-ONLY- prefix)")
        try:
            data = read_input(path, limit=CERT_MAX)
        except BadInputFile as exc:
            raise CertificateInputError("input.cert_dir", str(path), exc.problem) from None
        role, cid = kind
        if role is FileRole.CELL and cid is not None:
            cells.append(InstalledCell(cid.remote_party_role, cid.key_usage, cid.cell_usage, data))
        elif role is FileRole.DEVICE:
            devices.append(data)
            device_names.append(path.name)
        else:
            cas.append(data)
    if not cells and not devices:
        raise CertificateInputError("input.cert_dir", str(directory), "no cell or device certificate files")
    return CertDirectory(tuple(cells), tuple(devices), tuple(cas), tuple(device_names))


def trust_for(cells: Sequence[InstalledCell], roots: Sequence[bytes | SmkiCertificate] | None,
              where: str) -> tuple[list[bytes | SmkiCertificate], list[Check]]:
    """The roots to trust: ``roots`` when given, else the certificate in the root cell, with a
    ``chain.root_from_cell`` warning (the device vouching for its own root proves little)."""
    if roots is not None:
        return list(roots), []
    # by role alone: devices may report the root cell's key usage as keyCertSign or digitalSignature
    root_cell = next((c for c in cells if c.remote_party_role is RemotePartyRole.ROOT), None)
    if root_cell is None:
        raise CertificateInputError("input.roots", where,
                                    "no root cell and no --root given: nothing to trust")
    try:
        root = load_certificate(root_cell.der, name="cell root")
    except CertificateError as exc:
        raise CertificateInputError("input.roots", where, f"the root cell cannot be trusted: {exc}") from None
    return [root], [warned("chain.root_from_cell", "no --root given: trusting the root cell's certificate",
                           where)]


def verify_directory(directory: Path, *, roots: Sequence[bytes] | None = None,
                     intermediates: Sequence[bytes] = (), device_eui64: str | bytes | None = None,
                     expected_network_operator: str | bytes | None = None,
                     now: dt.datetime | None = None, role: str | None = None) -> Report:
    """``verify_installed`` over a directory of exported files (``ca-*`` files join ``intermediates``).

    With ``roots=None`` the certificate in the directory's root cell is trusted (see ``trust_for``).
    """
    found = read_cert_directory(directory)
    trust, prefix = trust_for(found.cells, roots, str(directory))
    role = role or infer_role(c.cell_id for c in found.cells)
    report = verify_installed(found.cells, device_eui64=device_eui64,
                              expected_network_operator=expected_network_operator, roots=trust, now=now,
                              device_certificates=found.device_certificates,
                              intermediates=[*intermediates, *found.intermediates], role=role)
    return Report.of(prefix) + report
