"""``hanrig sim``: front-ends onto the simulated HAN that run outside hanrig's own process.

``hanrig sim stick [--rig RIG.toml] [--baudrate N] [--trust-dir DIR]`` serves a virtual EZSP stick on a
pseudo-terminal, prints the port path on stdout and runs until interrupted, so that any EZSP host (hanrig
with ``--radio ezsp:/dev/pts/N``, bellows' own CLI, zigpy-cli, Home Assistant) can drive the simulated
bench. As on ``sim://``, every simulated ESME holds the bench's TEST-ONLY PKI (``bench_credentials``);
``--trust-dir`` writes that PKI's root and issuing CAs, so a rig run over the stick can verify them.
The stick answers XNCP custom frames as current community firmware does (``--no-xncp``: as stock
EmberZNet). ``--stats FILE`` appends one JSON line of the stick's counters (frames and wire bytes per
EZSP frame name, each direction) to FILE on every SIGUSR1 and at exit, for measurements from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hal.ezsp_stick.pty import DEFAULT_BAUDRATE, VirtualStick

if TYPE_CHECKING:
    from gateway.certs_service import BenchTrust


def _network_params(rig_path: Path | None):
    """The network the bench starts on: the rig's simulated radio's parameters, else the default bench."""
    import zigpy.types as zigpy_t

    from hal.sim.han import NetworkParams

    params = NetworkParams()
    if rig_path is None:
        return params
    from rigs.rigfile import load_rig

    rig = load_rig(rig_path)
    radio = next((r for r in rig.radios if r.url.startswith("sim:")), None)
    if radio is None:
        return params
    if radio.channel is not None:
        params.channel = radio.channel
    if radio.pan_id is not None:
        params.pan_id = radio.pan_id
    if radio.extended_pan_id is not None:
        params.extended_pan_id = zigpy_t.EUI64.convert(radio.extended_pan_id)
    if radio.network_key is not None:
        params.network_key = zigpy_t.KeyData(radio.network_key)
    return params


TRUST_ROOT = "TEST-ONLY-root.der"
TRUST_CA_DIR = "ca"


def write_trust(directory: Path, trust: BenchTrust) -> None:
    """The bench PKI's root as ``DIR/TEST-ONLY-root.der`` and its issuing CAs under ``DIR/ca/`` (DER): what
    a rig's certs step names as ``roots`` and ``cert_dir``."""
    from hal.ezsp_stick.exceptions import StickConfigError

    try:
        (directory / TRUST_CA_DIR).mkdir(parents=True, exist_ok=True)
        (directory / TRUST_ROOT).write_bytes(trust.root)
        for index, der in enumerate(trust.intermediates, start=1):
            (directory / TRUST_CA_DIR / f"TEST-ONLY-ca-{index}.der").write_bytes(der)
    except OSError as exc:
        raise StickConfigError(f"sim stick: --trust-dir {directory}: {exc.strerror or exc}") from None


async def serve_stick(rig_path: Path | None, baudrate: int, trust_dir: Path | None = None, *,
                      xncp: bool = True, stats: Path | None = None) -> None:
    """Build the bench (with the bench PKI on its ESMEs), open the stick and serve until SIGINT or SIGTERM."""
    from gateway.certs_service import bench_credentials
    from hal.sim.config import default_bench, load_sim_config
    from hal.sim.han import VirtualHan

    config = load_sim_config(rig_path) if rig_path is not None else default_bench()
    # the gateway layer hands the PKI's bytes to the sim config, as for sim:// (hal never imports certs)
    config, trust = bench_credentials(config, seed=config.settings.seed)
    if trust_dir is not None:
        write_trust(trust_dir, trust)
    han = VirtualHan(config, _network_params(rig_path))
    stick = VirtualStick(han, baudrate=baudrate, power_up_han=True, xncp=xncp)
    path = await stick.start()

    def dump_stats() -> None:
        if stats is not None:
            with stats.open("a", encoding="utf-8") as file:
                file.write(json.dumps(stick.counters()) + "\n")

    click.echo(path)
    click.echo(f"virtual EZSPv{stick.ncp.version} stick at {baudrate} baud, {len(han.devices)} devices"
               f" (real time); Ctrl-C to stop", err=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGUSR1, dump_stats)
    try:
        await stop.wait()
    finally:
        dump_stats()
        await han.stop()
        await stick.stop()


@click.group()
def sim() -> None:
    """Front-ends onto the simulated HAN (the virtual EZSP stick)."""


@sim.command()
@click.option("--rig", "rig_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Rig file whose [sim], [[devices]] and [[faults]] build the bench (default: built-in).")
@click.option("--baudrate", type=int, default=DEFAULT_BAUDRATE, show_default=True,
              help="UART rate the stick runs at; a host opening the port at another rate gets garbage.")
@click.option("--trust-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the bench PKI's root (TEST-ONLY-root.der) and issuing CAs (ca/) here.")
@click.option("--xncp/--no-xncp", default=True, show_default=True,
              help="Answer XNCP custom frames (combined send) as current community firmware does.")
@click.option("--stats", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append the stick's counters as a JSON line here on SIGUSR1 and at exit.")
def stick(rig_path: Path | None, baudrate: int, trust_dir: Path | None, xncp: bool,
          stats: Path | None) -> None:
    """Serve a virtual EZSP stick on a pseudo-terminal and print its path (e.g. /dev/pts/3)."""
    from hal.ezsp_stick.pty import speed_constant

    speed_constant(baudrate)  # reject an unsupported rate before anything is built
    asyncio.run(serve_stick(rig_path, baudrate, trust_dir, xncp=xncp, stats=stats))
