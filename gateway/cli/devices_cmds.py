"""``hanrig devices --radio URL [--interview] [--json]``: every device the radio's database knows, with what
is known about it and what is missing (contract: shared ``cli.md``; SECMP0056 for the Basic attributes).

The list is zigpy's devices plus the device ledger (``hal.device_ledger``), so a device whose interview
failed is still listed on the next run, as not interviewed. Interviews already in progress (devices that
just announced themselves) are waited for, up to ``--wait`` seconds on the radio's clock; ``--interview``
asks zigpy to interview the incomplete devices again first. Exit 0 when every device is complete, 1 when
one is not (the list is printed either way).

Runs on the radio's clock (``hal.run``), so on ``sim://`` it answers in well under a second of wall time
even though the sleepy GSME needs several polls. The rows are ``gateway.inventory``'s: the role is
inferred from the Smart Energy device type (``gateway.session``).
"""

from __future__ import annotations

from typing import Any

import click

import hal

from .common import capture_option, emit, json_option
from .network_cmds import permit as network_permit

INTERVIEW_WAIT_S = 60.0  # default --wait: a sleepy device's interview takes several 7.5 s polls


async def list_devices(url: str, *, interview: bool = False, wait_s: float = INTERVIEW_WAIT_S
                       ) -> list[dict[str, Any]]:
    """Open ``url`` as a gateway session, let interviews in progress end (re-interviewing the incomplete
    devices first with ``interview``), then read every device's inventory, ordered by EUI-64."""
    from gateway.progress import progress_display
    from gateway.session import Gateway

    async with Gateway.open([url]) as gw:
        inventory = gw.inventory
        with progress_display() as progress:
            incomplete = [d for d in gw.devices() if not d.interviewed]
            busy = [d for d in incomplete if d.interviewing]
            if interview and incomplete:
                with progress.waiting(f"interviewing {len(incomplete)} device(s) again", wait_s):
                    await inventory.reinterview(incomplete, wait_s)
            elif busy:
                with progress.waiting(f"{len(busy)} interview(s) in progress", wait_s):
                    await inventory.wait_for_interviews(wait_s)
        return [row.as_dict() for row in await inventory.read_all()]


def _value(value: Any) -> str:
    return "unknown" if value is None else str(value)


def _render(document: dict[str, Any]) -> str:
    from gateway.inventory import NOT_INTERVIEWED

    rows = document["devices"]
    complete = sum(1 for rec in rows if rec["complete"])
    lines = [f"{len(rows)} device(s) on {document['radio']}, {complete} complete"]
    for rec in rows:
        basic = rec["basic"]
        state = "" if rec["interviewed"] else "  NOT INTERVIEWED"
        lines.append(f"{_value(rec['role']):7} {rec['eui64']}  nwk {rec['nwk']}{state}")
        if rec["interviewed"]:
            lines.append(
                f"        fw {_value(rec['firmware_version'])}  {_value(basic.get('manufacturer'))} / "
                f"{_value(basic.get('model'))}  hw {_value(basic.get('hw_version'))}  "
                f"date {_value(basic.get('date_code'))}  build {_value(basic.get('sw_build_id'))}  "
                f"power {_value(basic.get('power_source'))}")
        gaps = [name for name in rec["missing"] if rec["problems"].get(name) != NOT_INTERVIEWED]
        for name in gaps:
            lines.append(f"        missing {name}: {rec['problems'][name]}")
        if not rec["interviewed"]:
            lines.append("        attributes not read until the interview finishes (--interview)")
    return "\n".join(lines)


@click.group("devices", invoke_without_command=True)
@click.option("--radio", "radio_url", envvar="HANRIG_RADIO", metavar="URL",
              help="Radio URL: sim://, sim://?rig=FILE, ezsp:///dev/ttyUSB0?baudrate=115200, znp:..., "
                   "deconz:... (env HANRIG_RADIO).")
@capture_option
@click.option("--interview", is_flag=True, help="Interview every incomplete device again before listing.")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=INTERVIEW_WAIT_S, show_default=True,
              metavar="S", help="How long (radio clock) to wait for interviews in progress.")
@json_option
@click.pass_context
def devices(ctx: click.Context, radio_url: str | None, interview: bool, wait_s: float, as_json: bool) -> None:
    """List every device the radio knows: role, EUI-64, NWK, Basic attributes, firmware, what is missing.

    Exit 0 when every device is complete, 1 when one is not (not interviewed, or attributes missing).
    ``hanrig devices permit`` opens the network (with install codes)."""
    if ctx.invoked_subcommand is not None:
        return
    if radio_url is None:
        raise click.UsageError("Missing option '--radio' (or HANRIG_RADIO)")
    hal.parse_radio_url(radio_url)
    records = hal.run(lambda: list_devices(radio_url, interview=interview, wait_s=wait_s), radio_url)
    emit({"radio": radio_url, "devices": records}, as_json, _render)
    partial = [rec["eui64"] for rec in records if not rec["complete"]]
    if partial:
        click.echo(f"hanrig: {len(partial)} of {len(records)} device(s) incomplete: {', '.join(partial)}"
                   " (hanrig devices --interview tries again)", err=True)
        raise click.exceptions.Exit(1)


# ``hanrig devices permit`` is ``hanrig network permit`` (issue 13 names it here, the network group too)
devices.add_command(network_permit, "permit")
