"""``hanrig gas read``: what the hub's GPF holds for a GSME (SECMP0015), classified (contract: ``cli.md``),
and the GBCS GCS13a response the GPF gives a supplier for it, with its decoding (``gateway.gcs13a``).

Opens the radio as a gateway session, starts the GPF (``gw.gpf``) and, since a fresh session holds
nothing yet, waits for the GSME's next push (a sleepy GSME pushes when it wakes; on ``sim://`` the wait
runs on simulated time). Exit 3 when no push comes within ``--timeout``. The tolerance comes from
``--tolerance``, else the rig file's ``[policies] gas_tolerance_s`` (``sim://?rig=FILE``), else 10 s.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click

import hal

from .common import EUI64, emit, json_option, radio_option
from .policy_opts import apply_rig_cbke, rig_policies


@click.group()
def gas() -> None:
    """The Gas Proxy Function: GSME values with their timestamp and clock status."""


def _render(document: dict[str, Any]) -> str:
    age = document["age_s"]
    rows = [
        ("device", document["device"]),
        ("value", f"{document['value']} {document['instantaneous_unit']}"),
        ("summation", f"{document['summation']} {document['unit']}"),
        ("timestamp", str(document["timestamp"])),
        ("source", document["source"]),
        ("clock_status", document["clock_status"]),
        ("dlms_datetime", document["dlms_datetime"]),
        ("age", f"{age:.1f} s"),
        ("reason", document["reason"]),
    ]
    gcs13a = document["gcs13a"]
    date_time = gcs13a["date_time"] or {}
    rows += [
        ("GCS13a", f"supplier {gcs13a['target']} -> GPF {gcs13a['originator']}, counter "
                   f"{gcs13a['originator_counter']}, MAC {gcs13a['mac']}"),
        ("  response", gcs13a["response"]),
        ("  register", f"{gcs13a['consumption']} {gcs13a['unit']} {gcs13a['registers']}"),
        ("  date-time", f"{date_time.get('utc')} clock status {date_time.get('clock_status')} "
                        f"{date_time.get('clock_status_flags')}"),
    ]
    return "\n".join(f"{name:14} {value}" for name, value in rows)


@gas.command("read")
@radio_option
@click.option("--device", type=EUI64, help="The GSME (default: the only GSME joined).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=3600.0, show_default=True,
              help="Seconds to wait for the GSME's next push.")
@click.option("--tolerance", "tolerance_s", type=click.IntRange(min=0),
              help="GSME clock tolerance in seconds (default: rig policy gas_tolerance_s, else 10).")
@json_option
def read(
    radio_url: str, device: str | None, timeout_s: float, tolerance_s: float | None, as_json: bool
) -> None:
    """Value, unit, timestamp, source, clock_status, DLMS date-time (hex) and age of a GSME's value."""
    from gateway.progress import progress_display
    from gateway.session import Gateway

    hal.parse_radio_url(radio_url)
    policy = rig_policies(radio_url).gpf
    if tolerance_s is not None:
        whole = int(tolerance_s)
        policy = dataclasses.replace(policy, tolerance_s=whole if whole == tolerance_s else tolerance_s)

    async def run() -> dict[str, Any]:
        async with Gateway.open([radio_url]) as gw:
            apply_rig_cbke(gw, radio_url)
            gpf = gw.gpf
            gpf.configure(policy=policy)
            with progress_display() as progress, progress.waiting(
                    f"the GSME's next push (gas value){' from ' + device if device else ''}", timeout_s):
                record, answer = await gpf.read_gcs13a(device, timeout_s)
            return {"radio": radio_url, **record.as_dict(gpf.now()), "gcs13a": answer.to_dict()}

    emit(hal.run(run, radio_url), as_json, _render)
