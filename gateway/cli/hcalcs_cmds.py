"""``hanrig hcalcs``: one-off load events to an HCALCS (SECMP0046) over DRLC, or On/Off where that is all
the device offers (shared ``cli.md``; the rules are in ``gateway.loadcontrol``).

``set`` sends the event, follows it to its start (``--until end``: to its end), reads the switch state
back and exits 0 when the device did what was asked, 1 when it did not (ignored, rejected, late, wrong
state), 2 for bad input or a command the policy refuses, 3 when the radio or the device is unreachable.
Who may command comes from the rig file's ``policies.hcalcs_commanders`` when the radio is
``sim://?rig=FILE``; otherwise both supplier and network operator may.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from .certs_cmds import InstantType
from .common import EUI64, emit, json_option, radio_option
from .policy_opts import apply_rig_cbke


def _policy(radio_url: str) -> Any:
    import hal
    from gateway.loadcontrol import LoadControlPolicy

    parsed = hal.parse_radio_url(radio_url)
    if parsed.rig is None:
        return LoadControlPolicy()
    from rigs.rigfile import load_rig  # the CLI is the one place in gateway allowed to read rigs

    return load_rig(parsed.rig).policies.loadcontrol


def _render(doc: dict[str, Any]) -> str:
    verdict = "PASS" if doc["passed"] else "FAIL"
    after_end = f", after end {doc['state_after_end']}" if doc["followed_to"] == "end" else ""
    lines = [
        f"{verdict} hcalcs {doc['device']}: event {doc['issuer_event_id']} over {doc['transport']} "
        f"as {doc['as']}",
        f"  level {doc['level']} ({'on' if doc['expect_on'] else 'off'}), "
        f"scheduled {doc['scheduled_start']}, duration {doc['duration_s']} s, "
        f"randomise {doc['randomise_s']} s (window 0..{doc['randomise_window_s']} s)",
        f"  offset {doc['offset_s']} s applied by {doc['offset_applied_by']}; "
        f"state after start {doc['state_after_start']}{after_end}",
    ]
    lines += [f"  {s['device_time']} {s['status']} (0x{s['status_int']:02x})" for s in doc["statuses"]]
    lines += [f"  problem: {p}" for p in doc["problems"]]
    return "\n".join(lines)


@click.group()
def hcalcs() -> None:
    """HCALCS load control (SECMP0046): load events on, off or at a level."""


@hcalcs.command("set")
@radio_option
@click.option("--device", "device", type=EUI64, required=True, help="The HCALCS's EUI-64.")
@click.option("--on", "switch", flag_value="on", help="Switch the load on (level 100).")
@click.option("--off", "switch", flag_value="off", help="Switch the load off (level 0).")
@click.option("--level", type=click.IntRange(0, 100), help="Level 0..100; 100 = on, anything else = off "
              "for a switch.")
@click.option("--start", type=InstantType(), help="Scheduled start (ISO 8601, UTC if no zone). Default: now.")
@click.option("--duration", "duration_s", type=int, default=1800, show_default=True,
              help="Duration in seconds, whole minutes 60..86400 (DRLC carries minutes).")
@click.option("--randomise", "randomise_s", type=click.IntRange(0, 1799), default=0, show_default=True,
              help="Randomised start offset limit in seconds (0..1799), applied by the device.")
@click.option("--as", "commander", type=click.Choice(["supplier", "network-operator"]), default="supplier",
              show_default=True, help="Who the command is sent for (checked against the rig policy).")
@click.option("--until", type=click.Choice(["start", "end"]), default="start", show_default=True,
              help="Follow the event to its start, or to its end (then the state must be restored).")
@json_option
def set_cmd(radio_url: str, device: str, switch: str | None, level: int | None, start: dt.datetime | None,
            duration_s: int, randomise_s: int, commander: str, until: str, as_json: bool) -> None:
    """Send one load event to an HCALCS and check what it did."""
    if (switch is None) == (level is None):
        raise click.UsageError("give exactly one of --on, --off, --level N")
    import hal
    from gateway.exceptions import DeviceCheckFailed
    from gateway.loadcontrol import Commander, LoadCommand
    from gateway.session import Gateway

    command = LoadCommand(level=level if level is not None else (100 if switch == "on" else 0), start=start,
                          duration_s=duration_s, randomise_s=randomise_s, commander=Commander(commander))
    command.check()
    policy = _policy(radio_url)

    async def run() -> Any:
        async with Gateway.open([radio_url]) as gw:
            apply_rig_cbke(gw, radio_url)
            feature = gw.loadcontrol
            feature.policy = policy
            return await feature.run(gw.device(device), command, until=until)

    result = hal.run(run, radio_url)
    document = {"radio": radio_url, **result.to_dict()}
    emit(document, as_json, _render)
    if not result.passed:
        raise DeviceCheckFailed(f"hcalcs {device}: {'; '.join(result.problems)}")
