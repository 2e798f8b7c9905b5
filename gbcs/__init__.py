"""GBCS messages and their security, agreeing byte for byte with the DCC's Reference Test Data Set.

A pure library (bytes in, objects and verdicts out; no radio, no event loop) serving SECMP0015 (GCS13a
gas readings with the GPF's timestamp), SECMP0024 (CS06 activation and its alerts), SECMP0007 (CCS08
transfer alerts), SECMP0063 (CS02a/b/c credentials) and SECMP0062 (device alerts).

Reading::

    message = gbcs.read_message(data)        # GbcsError (exit 2) names what is wrong and the offset
    message.kind, message.cra_flag, message.originator_counter, message.originator, message.target
    message.dlms_date_time, message.message_code, message.use_case, message.alert_code
    security = gbcs.Security(gbcs.Keystore("keystore/"))
    report = security.check(message)         # .mac / .signature: valid | invalid | no-key | absent
    gbcs.decode_content(message, security)   # names and units; decrypts what the keys allow

Building (a remote party's command, a device's or the hub's response or alert)::

    header = gbcs.response(device, supplier, counter, 0x0074, b"", date_time=gbcs.DlmsDateTime(...))
    content = gbcs.content.gcs13a_response_content(header, gbcs.content.GasRegisters(12345), security)
    wire = security.apply_mac(header.with_(content=content)).to_bytes()
    security.sign(message)                   # ECDSA by the originator's DS key

``message.to_bytes()`` writes back exactly what was read; ``security.apply_mac`` recomputes the MAC
(equal to the original's whenever the keystore holds the key). ``gbcs.security.CounterTracker``
refuses replayed and out-of-order originator counters. Modules: ``wire`` (wrappers, date-time),
``content`` (use-case contents), ``security``, ``keystore``, ``names`` (message and alert codes).
"""

from . import content, names, security
from .content import GasRegisters, decode_content
from .exceptions import BuildError, CounterRejected, GbcsError, KeystoreError, SecurityCheckFailed
from .keystore import Keystore, KeyUse
from .names import Kind
from .security import CounterTracker, Security, SecurityReport, Verdict
from .wire import ClockStatus, DlmsDateTime, Message, alert, command, read_message, response

__all__ = [
    "BuildError",
    "ClockStatus",
    "CounterRejected",
    "CounterTracker",
    "DlmsDateTime",
    "GasRegisters",
    "GbcsError",
    "KeyUse",
    "Keystore",
    "KeystoreError",
    "Kind",
    "Message",
    "Security",
    "SecurityCheckFailed",
    "SecurityReport",
    "Verdict",
    "alert",
    "command",
    "content",
    "decode_content",
    "names",
    "read_message",
    "response",
    "security",
]
