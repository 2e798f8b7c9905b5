"""``hanrig gbcs``: inspect GBCS messages (shared ``cli.md``; serves SECMP0015/0024/0007/0063/0062).

File work over the pure ``gbcs`` library: ``inspect`` reads one message (binary, or hex with any
spacing), reports its headers, decoded content and security verdicts. Exit 0 when it reads and every
check that had a key is valid, 1 when a MAC or signature does not verify, 2 when it is not a GBCS
message (one line naming the offset).
"""

from __future__ import annotations

import json
import string
import sys
from pathlib import Path
from typing import Any

import click

from gbcs import (
    GbcsError,
    Keystore,
    Message,
    Security,
    SecurityCheckFailed,
    SecurityReport,
    Verdict,
    decode_content,
    read_message,
)
from hanrig_errors import INPUT_FILE_MAX, BadInput, parse_eui64, read_input

from .common import EXISTING_DIR, emit, fmt_hex, json_option

HEX_TEXT = frozenset(string.hexdigits + string.whitespace)


@click.group()
def gbcs() -> None:
    """GBCS messages: headers, content and security, as the DCC's reference data has them."""


@gbcs.command()
@click.argument("file", required=False, metavar="FILE|-")
@click.option("--hex", "hex_text", default=None, metavar="STRING", help="The message as hex, spaces allowed.")
@click.option("--keystore", type=EXISTING_DIR, default=None,
              help="Directory of <eui64>-ds/-ka certificates and TEST-ONLY keys (like the RTDS keystore).")
@json_option
def inspect(file: str | None, hex_text: str | None, keystore: Path | None, as_json: bool) -> None:
    """Read one GBCS message from FILE (binary or hex), stdin (-) or --hex; exit 1 if a MAC or
    signature does not verify, 2 if it is not a GBCS message."""
    if (file is None) == (hex_text is None):
        raise click.UsageError("give FILE (or - for stdin) or --hex STRING, not both")
    source, data, message = read_message_input(file, hex_text)
    security = Security(Keystore(keystore)) if keystore is not None else None
    report = security.check(message) if security is not None else _without_keys(message)
    content_error = None
    try:
        content: dict[str, Any] = decode_content(message, security)
    except GbcsError as exc:
        content_error = exc
        content = {"error": str(exc), "raw": message.content.hex()}
    document = message_document(message, report, content, source=source, length=len(data))
    emit(document, as_json, _render)
    failed = [name for name, verdict in (("MAC", report.mac), ("signature", report.signature))
              if verdict is Verdict.INVALID]
    if failed:
        raise SecurityCheckFailed(f"{source}: {' and '.join(failed)} invalid")
    if content_error is not None:
        raise BadInput(f"{source}: content of {message.use_case or 'the message'}: {content_error}")


def read_message_input(file: str | None, hex_text: str | None = None) -> tuple[str, bytes, Message]:
    """One GBCS message from FILE (binary or hex), stdin (``-``) or ``--hex``: (source, octets, message);
    ``BadInput`` (exit 2) naming the source when it is not one."""
    if hex_text is not None:
        source, data = "--hex", _from_hex(hex_text, "--hex")
    else:
        source = "stdin" if file == "-" else str(file)
        if file == "-":
            raw = sys.stdin.buffer.read(INPUT_FILE_MAX + 1)
            if len(raw) > INPUT_FILE_MAX:
                raise BadInput(f"stdin: more than {INPUT_FILE_MAX} bytes; not a GBCS message")
        else:
            raw = read_input(Path(str(file)), limit=INPUT_FILE_MAX)
        data = _from_hex(raw.decode("ascii"), source) if raw and _looks_hex(raw) else raw
    try:
        return source, data, read_message(data)
    except GbcsError as exc:
        raise BadInput(f"{source}: not a GBCS message: {exc}") from None


def _looks_hex(raw: bytes) -> bool:
    try:
        return HEX_TEXT.issuperset(raw.decode("ascii"))
    except UnicodeDecodeError:
        return False


def _from_hex(text: str, source: str) -> bytes:
    digits = "".join(text.split())
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise BadInput(f"{source}: not hex (an odd number of digits or a non-hex character)") from None


def _without_keys(message: Message) -> SecurityReport:
    return SecurityReport(Verdict.NO_KEY if message.mac is not None else Verdict.ABSENT,
                          Verdict.NO_KEY if message.signature else Verdict.ABSENT)


def _eui(raw: bytes | None) -> str | None:
    return parse_eui64(raw.hex()) if raw is not None else None


def message_document(message: Message, report: SecurityReport, content: dict[str, Any], *, source: str,
                     length: int) -> dict[str, Any]:
    """The JSON shape of ``gbcs inspect``."""
    alert_code = message.alert_code
    date_time = message.dlms_date_time
    return {
        "source": source, "length": length,
        "kind": str(message.kind), "cra_flag": message.cra_flag,
        "message_code": fmt_hex(message.message_code), "message_code_int": message.message_code,
        "use_case": message.use_case, "use_case_title": message.use_case_title,
        "originator": _eui(message.originator), "target": _eui(message.target),
        "originator_counter": message.originator_counter,
        "date_time": date_time.to_json() if date_time else None,
        "alert_code": fmt_hex(alert_code) if alert_code is not None else None,
        "alert_code_int": alert_code, "alert_name": message.alert_name,
        "supplementary_remote_party": _eui(message.supplementary_remote_party),
        "security": {"mac": str(report.mac), "signature": str(report.signature),
                     "mac_party": _eui(report.mac_party), "signer": _eui(report.signer)},
        "content": content,
    }


def _render(doc: dict[str, Any]) -> str:
    lines = [
        f"{doc['source']}: GBCS {doc['kind']} (CRA flag {doc['cra_flag']}), {doc['length']} octets",
        f"  message code  {doc['message_code']}  {doc['use_case'] or 'unknown use case'}"
        + (f": {doc['use_case_title']}" if doc["use_case_title"] else ""),
        f"  originator    {doc['originator']}",
        f"  target        {doc['target']}",
        f"  counter       {doc['originator_counter']}",
    ]
    if doc["date_time"]:
        dt = doc["date_time"]
        flags = ", ".join(dt["clock_status_flags"]) or "ok"
        lines.append(f"  date-time     {dt['utc'] or dt['raw']}  clock status {dt['clock_status']} ({flags})")
    if doc["alert_code"]:
        lines.append(f"  alert         {doc['alert_code']}  {doc['alert_name'] or 'unnamed alert code'}")
    security = doc["security"]
    lines.append(f"  security      MAC {security['mac']}"
                 + (f" ({security['mac_party']})" if security["mac_party"] else "")
                 + f", signature {security['signature']}")
    lines.append("  content")
    lines.extend(f"    {line}" for line in json.dumps(doc["content"], indent=2).splitlines())
    return "\n".join(lines)
