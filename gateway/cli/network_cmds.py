"""``hanrig network``: the network operations a bench engineer otherwise takes to zigpy-cli.

    hanrig network permit --radio URL [--duration S] [--install-code EUI64=CODE ...] [--json]
    hanrig network backup FILE --radio URL          # zigpy's open coordinator backup (zigpy-cli, ZHA)
    hanrig network restore FILE --radio URL [--yes]
    hanrig network energy-scan --radio URL [--channel N ...] [--duration-exp N] [--count N] [--json]
    hanrig network scan --radio URL [--channel N ...] [--duration-exp N] [--json]
    hanrig network form --radio URL [--yes] [--json]
    hanrig network reset --radio URL [--yes]

Each opens the radio as a gateway session on its clock (``hal.run``) and goes through the session's
``gw.network`` feature (``gateway.network``), so it works the same on
``sim://``, through the virtual EZSP stick and on hardware. On ``sim://`` the network lives only as long
as the command (the simulated HAN is rebuilt on every start); on a stick it is the stick's. ``restore``,
``form`` and ``reset`` change the radio's network: they ask first, or take ``--yes`` (required when stdin
is not a terminal). Declining leaves the radio unchanged and exits 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

import hal

from .common import EUI64, EXISTING_FILE, emit, fmt_hex, json_option, radio_option

if TYPE_CHECKING:
    from gateway.session import Gateway

T = TypeVar("T")
DEFAULT_PERMIT_S = 60


def _on_radio(url: str, work: Callable[[Gateway], Awaitable[T]]) -> T:
    """Open the radio at ``url`` as a gateway session and run ``work(gw)`` on the radio's clock."""
    from gateway.session import Gateway

    hal.parse_radio_url(url)

    async def run() -> T:
        async with Gateway.open([url]) as gw:
            return await work(gw)

    return hal.run(run, url)


def _confirm(what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError(f"{what} changes the radio's network: pass --yes to confirm "
                               "(stdin is not a terminal)")
    if not click.confirm(f"{what}: the radio's current network (and its devices) will be replaced. Go on?"):
        click.echo(f"hanrig: {what}: not confirmed; the radio is unchanged", err=True)
        raise click.exceptions.Exit(1)


def _render_network(document: dict[str, Any]) -> str:
    net = document["network"]
    return (f"{document['action']} on {document['radio']}: channel {net['channel']}, PAN ID {net['pan_id']}, "
            f"extended PAN ID {net['extended_pan_id']}")


class InstallCodeOption(click.ParamType):
    """``EUI64=CODE`` or ``EUI64:CODE``: a device and its install code (hex, with its CRC)."""

    name = "EUI64:CODE"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, Any]:
        from certs.exceptions import InvalidInstallCode
        from certs.install_code import parse_install_code

        text = str(value).strip()
        eui_text, sep, code_text = text.partition("=")
        if not sep:
            # EUI64:CODE: the EUI-64 is the first 16 hex digits (colons or not), the code is the rest
            digits = [i for i, ch in enumerate(text) if ch not in ":- "]
            if len(digits) <= 16:
                self.fail(f"{value!r} is not EUI64:CODE (e.g. "
                          "00:0d:6f:00:0a:bc:00:04:83FED3407A939723A5C639B26916D505C3B5)", param, ctx)
            eui_text, code_text = text[:digits[15] + 1], text[digits[15] + 1:].lstrip(":")
        eui64 = EUI64.convert(eui_text, param, ctx)
        try:
            return eui64, parse_install_code(code_text, what=f"install code for {eui64}")
        except InvalidInstallCode as exc:
            self.fail(str(exc), param, ctx)


@click.group()
def network() -> None:
    """Network operations: permit joining, backup/restore, energy and network scans, form, reset."""


@network.command()
@radio_option
@click.option("--duration", "duration_s", type=click.IntRange(1, 254), default=DEFAULT_PERMIT_S,
              show_default=True, metavar="S", help="How long the network stays open (seconds, 1..254).")
@click.option("--install-code", "install_codes", type=InstallCodeOption(), multiple=True,
              help="Admit only this device, with the link key its install code gives (repeatable).")
@json_option
def permit(radio_url: str, duration_s: int, install_codes: tuple[tuple[str, Any], ...],
           as_json: bool) -> None:
    """Open the network for joining and list the devices that join while it is open (also
    ``hanrig devices permit``). Exit 1 when a device given an install code is not on the network after."""
    import zigpy.types as zigpy_t

    from gateway.progress import progress_display

    keys = {zigpy_t.EUI64.convert(eui64): code.link_key for eui64, code in install_codes}

    async def work(gw: Gateway) -> tuple[list[dict[str, Any]], list[str]]:
        with gw.network.watch_joins() as joined:
            await gw.network.permit(duration_s, keys)
            what = (f"devices to join ({', '.join(eui for eui, _ in install_codes)} by install code)"
                    if install_codes else "devices to join")
            with progress_display() as progress, progress.waiting(what, duration_s):
                await asyncio.sleep(duration_s)
        # a device given an install code must be on the network now (it may have joined before the window)
        absent = set(gw.network.not_on_network(keys))
        missing = [eui64 for eui64, _ in install_codes if zigpy_t.EUI64.convert(eui64) in absent]
        return [{"eui64": eui64, "nwk": fmt_hex(nwk), "nwk_int": nwk}
                for eui64, nwk in sorted(joined.items())], missing

    joined, not_joined = _on_radio(radio_url, work)
    document = {"radio": radio_url, "duration_s": duration_s,
                "install_codes": [eui64 for eui64, _ in install_codes], "joined": joined,
                "not_joined": not_joined}
    emit(document, as_json, lambda d: f"network open {d['duration_s']} s on {d['radio']}: "
         + (f"{len(d['joined'])} device(s) joined: " + ", ".join(j["eui64"] for j in d["joined"])
            if d["joined"] else "no device joined"))
    if not_joined:
        click.echo(f"hanrig: {', '.join(not_joined)} did not join with the key of its install code within "
                   f"{duration_s} s", err=True)
        raise click.exceptions.Exit(1)


@network.command()
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@radio_option
def backup(file: Path, radio_url: str) -> None:
    """Write the radio's network (keys, children) to FILE as an open coordinator backup (zigpy-cli, ZHA)."""
    document = _on_radio(radio_url, lambda gw: gw.network.backup())
    file.write_text(json.dumps(document, indent=4) + "\n")
    click.echo(f"network backup of {radio_url} written to {file}: channel {document['channel']}, "
               f"PAN ID 0x{document['pan_id']}, {len(document.get('devices', []))} device(s)")


@network.command()
@click.argument("file", type=EXISTING_FILE)
@radio_option
@click.option("--yes", is_flag=True, help="Do not ask before replacing the radio's network.")
@json_option
def restore(file: Path, radio_url: str, yes: bool, as_json: bool) -> None:
    """Write an open coordinator backup FILE (hanrig, zigpy-cli, ZHA) to the radio."""
    from gateway.network import read_backup

    network_backup = read_backup(file)
    _confirm("network restore", yes)
    state = _on_radio(radio_url, lambda gw: gw.network.restore(network_backup))
    emit({"radio": radio_url, "action": f"restored {file}", "network": state},
         as_json, _render_network)


_channel_option = click.option("--channel", "channels", type=click.IntRange(11, 26), multiple=True,
                               help="A channel to scan (repeatable; default all of 11..26).")
_duration_option = click.option("--duration-exp", "duration_exp", type=click.IntRange(0, 14), default=4,
                                show_default=True, help="Scan time per channel: (2^N + 1) x 15.36 ms.")


@network.command("energy-scan")
@radio_option
@_channel_option
@_duration_option
@click.option("--count", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Scans per channel (the highest energy is kept).")
@json_option
def energy_scan(radio_url: str, channels: tuple[int, ...], duration_exp: int, count: int,
                as_json: bool) -> None:
    """Energy per channel (0..255): pick a quiet channel before forming a network."""
    energies = _on_radio(radio_url, lambda gw: gw.network.energy_scan(list(channels), duration_exp, count))
    document = {"radio": radio_url, "channels": [{"channel": int(channel), "energy": round(float(energy), 1)}
                                                 for channel, energy in sorted(energies.items())]}

    def render(doc: dict[str, Any]) -> str:
        lines = [f"energy scan on {doc['radio']} (0..255, higher is busier)"]
        for row in doc["channels"]:
            bar = "#" * round(row["energy"] / 255 * 40)
            lines.append(f"  {row['channel']:2d}  {row['energy']:5.1f}  {bar}")
        return "\n".join(lines)

    emit(document, as_json, render)


@network.command("scan")
@radio_option
@_channel_option
@_duration_option
@json_option
def scan(radio_url: str, channels: tuple[int, ...], duration_exp: int, as_json: bool) -> None:
    """Networks heard in an active scan: one beacon per answering router (PAN, channel, permit, LQI)."""
    beacons = _on_radio(radio_url, lambda gw: gw.network.scan(list(channels), duration_exp))
    rows = [{
        "channel": int(b.channel), "pan_id": fmt_hex(int(b.pan_id)), "pan_id_int": int(b.pan_id),
        "extended_pan_id": str(b.extended_pan_id).lower(), "permit_joining": bool(b.permit_joining),
        "stack_profile": int(b.stack_profile), "nwk_update_id": int(b.nwk_update_id), "lqi": int(b.lqi),
        "rssi": None if b.rssi is None else int(b.rssi),
        "src": None if b.src is None else fmt_hex(int(b.src)),
    } for b in beacons]

    def render(doc: dict[str, Any]) -> str:
        if not doc["beacons"]:
            return f"no network heard by {doc['radio']}"
        lines = [f"{len(doc['beacons'])} beacon(s) heard by {doc['radio']}"]
        for b in doc["beacons"]:
            lines.append(f"  channel {b['channel']}  PAN {b['pan_id']}  {b['extended_pan_id']}  "
                         f"from {b['src'] or 'unknown'}  LQI {b['lqi']}  "
                         f"{'permitting joins' if b['permit_joining'] else 'closed'}")
        return "\n".join(lines)

    emit({"radio": radio_url, "beacons": rows}, as_json, render)


@network.command()
@radio_option
@click.option("--yes", is_flag=True, help="Do not ask before replacing the radio's network.")
@json_option
def form(radio_url: str, yes: bool, as_json: bool) -> None:
    """Form a new network (random PAN ID, extended PAN ID and network key; the quietest channel)."""
    _confirm("network form", yes)
    state = _on_radio(radio_url, lambda gw: gw.network.form())
    emit({"radio": radio_url, "action": "formed a new network", "network": state},
         as_json, _render_network)


@network.command()
@radio_option
@click.option("--yes", is_flag=True, help="Do not ask before leaving the network.")
def reset(radio_url: str, yes: bool) -> None:
    """Leave the network: the radio forgets its network and keys (the next command forms a new one)."""
    _confirm("network reset", yes)
    _on_radio(radio_url, lambda gw: gw.network.reset())
    click.echo(f"{radio_url}: left the network; the next command that opens it forms a new one")
