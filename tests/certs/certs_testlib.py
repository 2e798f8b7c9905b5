"""Shared helpers for ``certs`` tests: constants, and the openssl CLI driver that makes SMKI certificates."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
ESME = "00:0d:6f:00:0a:bc:00:01"
GSME = "00:0d:6f:00:0a:bc:00:02"
RIGHT_NO = "90:b3:d5:1f:30:01:00:02"
WRONG_NO = "90:b3:d5:1f:30:01:00:12"
POLICY = "1.2.826.0.1.8641679.1.2.1.4"
DEFAULT_START = "20250101000000Z"
DEFAULT_END = "20450101000000Z"
DEVICE_END = "99991231235959Z"


# --- openssl-made certificates ---------------------------------------------------------------------

# Extension sections in the SMKI profile; the broken variants below each change one line.
PROFILE_EXTENSIONS = {
    "root": ["basicConstraints = critical, CA:true", "keyUsage = critical, keyCertSign",
             f"certificatePolicies = critical, {POLICY}"],
    "ca": ["basicConstraints = critical, CA:true", "keyUsage = critical, keyCertSign",
           "authorityKeyIdentifier = keyid:always", f"certificatePolicies = critical, {POLICY}"],
    "org_ds": ["keyUsage = critical, digitalSignature", "authorityKeyIdentifier = keyid:always",
               f"certificatePolicies = critical, {POLICY}"],
    "org_ka": ["keyUsage = critical, keyAgreement", "authorityKeyIdentifier = keyid:always",
               f"certificatePolicies = critical, {POLICY}"],
    "device": ["keyUsage = critical, keyAgreement", "authorityKeyIdentifier = keyid:always",
               f"certificatePolicies = critical, {POLICY}",
               "subjectAltName = critical, otherName:1.3.6.1.5.5.7.8.4;SEQUENCE:hwmod"],
}

CA_CONFIG = """\
[ca]
default_ca = dca
[dca]
database = {db}/index.txt
serial = {db}/serial
new_certs_dir = {db}
default_md = {md}
policy = pol
unique_subject = no
email_in_dn = no
copy_extensions = none
[pol]
[req]
distinguished_name = dn
prompt = no
[dn]
CN = {cn}
[ext]
{extensions}
[hwmod]
hwType = OID:1.2.826.0.1.8641679.1.2.2
hwSerialNum = FORMAT:HEX,OCTETSTRING:{hw_serial}
"""


@dataclass
class Made:
    """A certificate made by openssl: its PEM and its key file."""

    pem: bytes
    key: Path
    path: Path


class OpenSSL:
    """Drives the openssl CLI to make SMKI-profile certificates and deliberately broken variants."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.db = workdir / "db"
        self.db.mkdir()
        (self.db / "index.txt").write_text("")
        (self.db / "serial").write_text("1000\n")
        self.count = 0

    def run(self, *args: str) -> None:
        proc = subprocess.run(["openssl", *args], cwd=self.dir, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)} failed: {proc.stderr}")

    def key(self, name: str, kind: str = "p256") -> Path:
        path = self.dir / f"{name}.key"
        if kind == "rsa":
            self.run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path))
        else:
            curve = {"p256": "prime256v1", "p256c": "prime256v1", "p384": "secp384r1"}[kind]
            self.run("ecparam", "-name", curve, "-genkey", "-noout", "-out", str(path))
            if kind == "p256c":
                self.run("ec", "-in", str(path), "-conv_form", "compressed", "-out", str(path))
        return path

    def _config(self, name: str, extensions: list[str], *, ski: str | None, cn: str = "unused",
                md: str = "sha256", hw_serial: str = "000d6f000abc0001") -> Path:
        lines = list(extensions)
        # OpenSSL 3 adds SKI/AKI unless told "none"
        lines.insert(0, f"subjectKeyIdentifier = {ski if ski is not None else 'none'}")
        if not any(line.startswith("authorityKeyIdentifier") for line in lines):
            lines.append("authorityKeyIdentifier = none")
        path = self.dir / f"{name}.cnf"
        path.write_text(CA_CONFIG.format(db=self.db, md=md, cn=cn, extensions="\n".join(lines),
                                         hw_serial=hw_serial))
        return path

    @staticmethod
    def ski_for(name: str) -> str:
        return hashlib.sha256(name.encode()).hexdigest()[:16]

    def root(self, name: str = "root", cn: str = "TEST-ONLY openssl Root") -> Made:
        key = self.key(name)
        config = self._config(name, PROFILE_EXTENSIONS["root"], ski=self.ski_for(name), cn=cn)
        out = self.dir / f"{name}.pem"
        self.run("req", "-new", "-x509", "-key", str(key), "-config", str(config), "-extensions", "ext",
                 "-set_serial", "1", "-days", "3650", "-out", str(out))
        return Made(out.read_bytes(), key, out)

    def csr(self, name: str, key: Path, subject: str | x509.Name) -> Path:
        """A CSR; an x509.Name subject (for a BIT STRING x500UniqueIdentifier, which ``-subj`` cannot
        express) is written with cryptography, a string subject with ``openssl req -subj``."""
        out = self.dir / f"{name}.csr"
        if isinstance(subject, x509.Name):
            private = serialization.load_pem_private_key(key.read_bytes(), None)
            csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(private, hashes.SHA256())
            out.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        else:
            self.run("req", "-new", "-key", str(key), "-subj", subject, "-out", str(out))
        return out

    def issue(self, name: str, issuer: Made, *, subject: str | x509.Name, profile: str,
              replace: dict[str, str | None] | None = None, key_kind: str = "p256",
              start: str = DEFAULT_START, end: str | None = None, md: str = "sha256",
              ski: str | None = "auto", hw_serial: str = "000d6f000abc0001") -> Made:
        """Issue ``name`` with the ``profile`` extensions; ``replace`` swaps (or with None drops) the line
        whose key matches, which is how the broken variants are made."""
        if end is None:
            end = DEVICE_END if profile == "device" else DEFAULT_END
        extensions = list(PROFILE_EXTENSIONS[profile])
        for key_name, line in (replace or {}).items():
            extensions = [e for e in extensions if not e.startswith(key_name)]
            if line is not None:
                extensions.append(line)
        key = self.key(name, key_kind)
        csr = self.csr(name, key, subject)
        config = self._config(name, extensions, ski=self.ski_for(name) if ski == "auto" else ski, md=md,
                              hw_serial=hw_serial)
        out = self.dir / f"{name}.pem"
        common = ["-CAkey", str(issuer.key), "-in", str(csr), "-out", str(out), "-extensions", "ext",
                  "-extfile", str(config)]
        if isinstance(subject, x509.Name):
            # `openssl ca` refuses a binary x500UniqueIdentifier ("characters illegal for the ASN.1
            # type"), so organisation certificates are signed with `openssl x509 -req`, dated from now.
            if (start, end) != (DEFAULT_START, DEFAULT_END):
                raise ValueError("openssl x509 -req cannot set dates; use a device/-subj variant")
            self.count += 1
            self.run("x509", "-req", "-CA", str(issuer.path), "-days", "3650", "-set_serial",
                     str(0x2000 + self.count), f"-{md}", *common)
        else:  # `openssl ca` sets exact dates (99991231235959Z) and signs an empty subject
            self.run("ca", "-batch", "-config", str(config), "-cert", str(issuer.path), "-keyfile",
                     str(issuer.key), "-in", str(csr), "-out", str(out), "-extensions", "ext", "-extfile",
                     str(config), "-startdate", start, "-enddate", end, "-notext",
                     *([] if subject == "/" else ["-preserveDN"]))
        return Made(out.read_bytes(), key, out)


def org_subject(cn: str, role_ou: str, entity_id: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role_ou),
        # BIT STRING contents: the unused-bits octet (0), then the Entity ID
        x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, b"\x00" + bytes.fromhex(entity_id.replace(":",
                                                                                                     "")),
                           _ASN1Type.BitString),
    ])


@dataclass
class OpensslPki:
    tool: OpenSSL
    root: Made
    ca: Made
    supplier_ds: Made
    no_ka: Made
    device: Made


def der_tlv(tag: int, content: bytes) -> bytes:
    """One DER TLV (definite length), for hand-built test certificates."""
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


ECDSA_SHA256_ALGID = bytes.fromhex("300a06082a8648ce3d040302")
ECDSA_SHA256_ALGID_NULL = bytes.fromhex("300c06082a8648ce3d0403020500")


def with_null_signature_parameters(der: bytes, issuer_key) -> bytes:
    """Re-sign ``der`` with ecdsa-with-SHA256 carrying NULL parameters, as Java tools write it."""
    from cryptography.hazmat.primitives.asymmetric import ec

    cert = x509.load_der_x509_certificate(der)
    tbs = cert.tbs_certificate_bytes
    # skip the TBS header to reach its contents, then swap the inner signature AlgorithmIdentifier
    header = 2 + (tbs[1] & 0x7F if tbs[1] & 0x80 else 0)
    body = tbs[header:].replace(ECDSA_SHA256_ALGID, ECDSA_SHA256_ALGID_NULL, 1)
    new_tbs = der_tlv(0x30, body)
    signature = issuer_key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    return der_tlv(0x30, new_tbs + ECDSA_SHA256_ALGID_NULL + der_tlv(0x03, b"\x00" + signature))


# A published Certicom test certificate (suite 1, for XBee 00:13:a2:00:40:4c:15:a4; issuer "TESTSECA").
SUITE1 = bytes.fromhex(
    "03061958d95eaf5477be7c89a94a85aabbb08cdd3d0b"  # public key reconstruction data (22)
    "0013a200404c15a4"                              # subject
    "5445535453454341"                              # issuer
    "01090010000000000000"                          # profile attribute data (10)
)
