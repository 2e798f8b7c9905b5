"""Certification paths: leaf -> issuing CA -> root, found by AKI/SKI and checked with ``cryptography``.

``check_chain`` walks up from a certificate to one of the configured roots, checking every signature
and every validity period on the way. Results: ``chain.trusted`` (pass), or ``chain.unknown_issuer``,
``chain.bad_signature``, ``chain.issuer_not_ca``, ``chain.untrusted_root``, ``chain.loop``, and per
certificate ``chain.not_yet_valid`` / ``chain.expired``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from .model import CertKind, SmkiCertificate
from .report import Check, failed, passed

MAX_PATH_LENGTH = 6  # root, a couple of CAs and the leaf; anything longer is a loop or a mistake


def _validity(cert: SmkiCertificate, now: dt.datetime) -> Iterator[Check]:
    if now < cert.not_before:
        yield failed("chain.not_yet_valid", f"not valid before {cert.not_before:%Y-%m-%dT%H:%M:%SZ} "
                                            f"(now {now:%Y-%m-%dT%H:%M:%SZ})", cert.name)
    elif now > cert.not_after:
        yield failed("chain.expired", f"expired {cert.not_after:%Y-%m-%dT%H:%M:%SZ} "
                                      f"(now {now:%Y-%m-%dT%H:%M:%SZ})", cert.name)


_ECDSA_HASHES = {"1.2.840.10045.4.3.2": hashes.SHA256, "1.2.840.10045.4.3.3": hashes.SHA384,
                 "1.2.840.10045.4.3.4": hashes.SHA512}


def _signed_by(cert: SmkiCertificate, issuer: SmkiCertificate) -> str | None:
    """None when ``issuer`` signed ``cert``, else why not."""
    try:
        if cert.signature_parameters == "null":
            # cryptography parsed a NULL-less copy; check the signature over the TBS as it was signed
            if cert.issuer != issuer.subject:
                return "issuer name does not match"
            public = issuer.x509.public_key()
            if not isinstance(public, ec.EllipticCurvePublicKey):
                return "issuer key is not an EC key"
            public.verify(cert.signature, cert.signed_tbs,
                          ec.ECDSA(_ECDSA_HASHES[cert.signature_algorithm]()))
            return None
        cert.x509.verify_directly_issued_by(issuer.x509)
    except InvalidSignature:
        return "signature does not verify"
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return str(exc)
    return None


def _is_self_signed_root(cert: SmkiCertificate) -> bool:
    return cert.self_issued and (cert.aki is None or cert.aki == cert.ski)


def check_chain(cert: SmkiCertificate, *, roots: Sequence[SmkiCertificate],
                intermediates: Sequence[SmkiCertificate] = (), now: dt.datetime) -> list[Check]:
    """Build and verify the path from ``cert`` to one of ``roots``; one result per problem found."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    root_ders = {root.der for root in roots}
    pool = list(roots) + [c for c in intermediates if c.der not in root_ders]
    results: list[Check] = []
    path = [cert]
    current = cert
    while True:
        results.extend(_validity(current, now))
        if _is_self_signed_root(current):
            if current.der not in root_ders:
                results.append(failed("chain.untrusted_root",
                                      "path ends at a self-signed certificate that is not a configured root",
                                      current.name))
                return results
            problem = _signed_by(current, current)
            if problem:
                results.append(failed("chain.bad_signature", f"root self-signature: {problem}", current.name))
                return results
            break
        if len(path) > MAX_PATH_LENGTH:
            results.append(failed("chain.loop", f"no root within {MAX_PATH_LENGTH} issuers", cert.name))
            return results
        if current.aki is not None:
            candidates = [c for c in pool if c.ski == current.aki and c.der != current.der]
        else:  # no AKI (already a profile failure): fall back to the issuer name so the chain is still judged
            candidates = [c for c in pool if c.subject == current.issuer and c.der != current.der]
        if not candidates:
            aki = current.aki.hex() if current.aki is not None else "absent"
            results.append(failed("chain.unknown_issuer",
                                  f"issuer {current.issuer!r} (AKI {aki}) is none of the {len(pool)} "
                                  "configured roots/CAs", current.name))
            return results
        problems: list[str] = []
        issuer = None
        for candidate in candidates:
            problem = _signed_by(current, candidate)
            if problem is None:
                issuer = candidate
                break
            problems.append(f"{candidate.subject or candidate.name}: {problem}")
        if issuer is None:
            results.append(failed("chain.bad_signature", "; ".join(problems), current.name))
            return results
        if issuer.kind not in (CertKind.ROOT, CertKind.ISSUING_CA):
            results.append(failed("chain.issuer_not_ca", f"issued by {issuer.label}, which is not a CA",
                                  current.name))
            return results
        path.append(issuer)
        current = issuer
    route = " <- ".join(c.subject or c.name for c in reversed(path[1:]))
    results.append(passed("chain.trusted", f"signed by {route}", cert.name) if len(path) > 1
                   else passed("chain.trusted", "is a configured root", cert.name))
    return results
