"""SMKI certificates (GBCS section 12): parsing, profile checks, chains to trust anchors, trust anchor
cells, the SECMP0063 network-operator check, Zigbee SE implicit certificates, and a test PKI.
A pure library: bytes in, reports out.

Layers: ``model`` (parse) -> ``profile`` / ``chain`` / ``cells`` / ``cbke`` (pure validators returning
``Check`` results) -> ``verify`` (the entry points, returning a ``Report``). ``testpki`` makes a
TEST-ONLY hierarchy.
"""

from .cbke import ImplicitCertificate, check_implicit_certificate, parse_implicit_certificate
from .cells import CellId, CellUsage, InstalledCell
from .exceptions import CertificateError, CertificateInputError, MalformedCertificate, VerificationFailed
from .model import CertKind, KeyUsage, RemotePartyRole, SmkiCertificate, load_certificate
from .report import Check, Outcome, Report
from .verify import read_cert_directory, trust_for, verify, verify_directory, verify_installed

__all__ = [
    "CellId",
    "CellUsage",
    "CertKind",
    "CertificateError",
    "CertificateInputError",
    "Check",
    "ImplicitCertificate",
    "InstalledCell",
    "KeyUsage",
    "MalformedCertificate",
    "Outcome",
    "RemotePartyRole",
    "Report",
    "SmkiCertificate",
    "VerificationFailed",
    "check_implicit_certificate",
    "load_certificate",
    "parse_implicit_certificate",
    "read_cert_directory",
    "trust_for",
    "verify",
    "verify_directory",
    "verify_installed",
]
