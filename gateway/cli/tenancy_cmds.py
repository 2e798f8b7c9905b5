"""``hanrig tenancy``: publish a Change of Tenancy to a meter and read its history across the date
(rules in ``gateway.tenancy``). Not yet in ``cli.md``: proposed as ``hanrig tenancy publish|history``.

``publish`` exits 0 when the device took the change (and, with ``--check-history``, withheld every
interval from before the implementation time), 1 when it refused it or leaked history, 2 for bad input,
3 when the radio or the device is unreachable.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from .certs_cmds import InstantType
from .common import EUI64, emit, json_option, radio_option
from .policy_opts import apply_rig_cbke


def _hex_or_int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number (decimal or 0x hex)") from None


def _render(doc: dict[str, Any]) -> str:
    lines = []
    if "publication" in doc:
        p = doc["publication"]
        lines.append(f"{'TAKEN' if p['accepted'] else 'REFUSED'} change of tenancy {p['issuer_event_id']} "
                     f"to {p['device']}: provider {p['provider_id']}, from {p['implementation']} "
                     f"(control {p['control']}, default response {p['status']})")
    for name in ("before", "across", "history"):
        if name in doc:
            h = doc[name]
            lines.append(f"history {name}: {h['status']}, {len(h['intervals'])} interval(s)")
            lines += [f"  {i['start']} .. {i['end']}  {i['value']}" for i in h["intervals"]]
    lines += [f"problem: {p}" for p in doc.get("problems", [])]
    return "\n".join(lines)


@click.group()
def tenancy() -> None:
    """Change of tenancy (Device Management 0x0708) and the history a meter still gives."""


@tenancy.command()
@radio_option
@click.option("--device", required=True, type=EUI64, help="The meter's EUI-64.")
@click.option("--provider-id", "provider_id", required=True, type=_hex_or_int, help="ProviderId (u32).")
@click.option("--at", "at", type=InstantType(), help="ImplementationDateTime (ISO 8601). Default: now (0).")
@click.option("--event-id", "event_id", type=_hex_or_int, help="IssuerEventId (default: hub UTC seconds).")
@click.option("--control", type=_hex_or_int, help="ProposedTenancyChangeControl bitmap (default 0x83: "
              "pre/post snapshots, block historical load profile).")
@click.option("--check-history", is_flag=True, help="Then read history ending at the date and ending now; "
              "nothing from before the date may come back.")
@click.option("--periods", type=click.IntRange(1, 255), default=12, show_default=True)
@json_option
def publish(radio_url: str, device: str, provider_id: int, at: dt.datetime | None, event_id: int | None,
            control: int | None, check_history: bool, periods: int, as_json: bool) -> None:
    """Publish Change of Tenancy to a meter."""
    import hal
    from gateway.exceptions import DeviceCheckFailed
    from gateway.session import Gateway
    from gateway.tenancy import DEFAULT_CONTROL, history_dict

    async def run() -> dict[str, Any]:
        async with Gateway.open([radio_url]) as gw:
            apply_rig_cbke(gw, radio_url)
            target = gw.device(device)
            publication = await gw.tenancy.publish(
                target, provider_id=provider_id, implementation=at, issuer_event_id=event_id,
                control=DEFAULT_CONTROL if control is None else control)
            doc: dict[str, Any] = {"radio": radio_url, "publication": publication.to_dict(), "problems": []}
            if not publication.accepted:
                doc["problems"].append(f"device refused the change of tenancy ({publication.status})")
            elif check_history:
                check = await gw.tenancy.check_history_hidden(target, publication.implementation, periods)
                doc.update(before=history_dict(check.before), across=history_dict(check.across))
                doc["problems"] += list(check.problems)
            return doc

    document = hal.run(run, radio_url)
    emit(document, as_json, _render)
    if document["problems"]:
        raise DeviceCheckFailed(f"tenancy {device}: {'; '.join(document['problems'])}")


@tenancy.command()
@radio_option
@click.option("--device", required=True, type=EUI64, help="The meter's EUI-64.")
@click.option("--end", type=InstantType(), help="Intervals ending at or before this time. Default: latest.")
@click.option("--periods", type=click.IntRange(1, 255), default=12, show_default=True)
@json_option
def history(radio_url: str, device: str, end: dt.datetime | None, periods: int, as_json: bool) -> None:
    """Read a meter's history (Metering Get Profile, consumption delivered)."""
    import hal
    from gateway.session import Gateway
    from gateway.tenancy import history_dict

    async def run() -> dict[str, Any]:
        async with Gateway.open([radio_url]) as gw:
            apply_rig_cbke(gw, radio_url)
            read = await gw.tenancy.read_history(gw.device(device), end=end, periods=periods)
            return {"radio": radio_url, "device": device, "history": history_dict(read)}

    emit(hal.run(run, radio_url), as_json, _render)
