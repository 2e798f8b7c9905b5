"""Errors of the HAN host (``gateway``): each is one of the three kinds of ``hanrig_errors``."""

from __future__ import annotations

from hanrig_errors import BadInput, CheckFailed, Unreachable


class GatewayError(BadInput):
    """The gateway was asked something it cannot do with what it was given."""


class DeviceNotFound(Unreachable):
    """A device the command names has not joined any of the session's radios."""

    def __init__(self, device: str, problem: str) -> None:
        super().__init__(f"device {device}: {problem}")
        self.device = device


class DeviceCheckFailed(CheckFailed):
    """A device answered, and what it answered fails the check."""


class NoKeyEstablishment(CheckFailed):
    """The rig requires CBKE (``policies.require_cbke``) and the device holds no CBKE link key: it gets no
    Smart Energy service (exit 1, the message names the device and why)."""


class OtaPolicyError(BadInput):
    """The OTA policies or inputs cannot work (no Supplier key while signatures are required, ...)."""


class OtaPushFailed(CheckFailed):
    """A push ran and at least one device was refused or failed (outcomes hold the details)."""


class OtaDevicesUnreachable(Unreachable):
    """A push ran and at least one device could not be reached (vanished, or never answered)."""


class ActivationRefused(CheckFailed):
    """Activate-by-hash was refused (noImageHeld, hashMismatch) or the activation failed."""


class LoadControlError(GatewayError):
    """A load control request that cannot be sent as given."""


class CommandRefused(LoadControlError):
    """The rig's policy does not let this role command load control."""


class GpfError(BadInput):
    """A GSME push or a DLMS date-time that cannot be read."""


class TenancyError(GatewayError):
    """A change of tenancy or history request that cannot be sent as given."""


class HistoryAnswerInvalid(DeviceCheckFailed):
    """A device's Get Profile Response that contradicts itself."""


class CredentialsReadError(DeviceCheckFailed):
    """A meter answered the credentials read, but not in a way the hub can use."""


class AlertPolicyError(BadInput):
    """An alert throttling policy that cannot work."""


class BadBackup(GatewayError):
    """A backup file that is not an open coordinator backup zigpy can read; the message names the file."""
