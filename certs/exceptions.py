"""Errors raised by ``certs``: every one names the failing check (a stable code) and the certificate.

Profile, chain and cell problems are *results* in a ``Report`` (see ``certs.report``); exceptions are for
input that cannot be read at all (malformed or truncated DER/PEM, unusable files) and for a report the
caller asked to turn into an error (``Report.raise_if_failed``).
"""

from __future__ import annotations

from hanrig_errors import BadInput, CheckFailed, HanrigError


class CertificateError(HanrigError):
    """A certificate problem; ``check`` is the stable code, ``subject`` names the certificate."""

    def __init__(self, check: str, subject: str, message: str) -> None:
        super().__init__(f"{subject}: {check}: {message}")
        self.check = check
        self.subject = subject
        self.detail = message


class MalformedCertificate(CertificateError, BadInput):
    """The bytes are not a certificate we can decode (bad PEM/DER, truncated, trailing data)."""


class CertificateInputError(CertificateError, BadInput):
    """Input around the certificates is unusable (a file name that maps to no cell, an empty directory)."""


class VerificationFailed(CertificateError, CheckFailed):
    """A verification ran and at least one check failed; ``failures`` holds every failed check code."""

    def __init__(self, check: str, subject: str, message: str, failures: tuple[str, ...]) -> None:
        super().__init__(check, subject, message)
        self.failures = failures


class InvalidInstallCode(BadInput):
    """An install code that cannot be used: wrong length, bad CRC or not hex."""
