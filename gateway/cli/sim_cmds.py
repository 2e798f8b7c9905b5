"""``hanrig sim``: front-ends onto the simulated HAN that run outside hanrig's own process.

``hanrig sim stick [--rig RIG.toml] [--baudrate N] [--trust-dir DIR]`` serves a virtual EZSP stick on a
pseudo-terminal, prints the port path on stdout and runs until interrupted, so that any EZSP host (hanrig
with ``--radio ezsp:/dev/pts/N``, bellows' own CLI, zigpy-cli, Home Assistant) can drive the simulated
bench. As on ``sim://``, every simulated ESME holds the bench's TEST-ONLY PKI (``gateway.bench``);
``--trust-dir`` writes that PKI's root and issuing CAs, so a rig run over the stick can verify them.
``--tcp HOST:PORT`` serves the stick on a TCP port instead, as ser2net serves a real one (it prints
``socket://HOST:PORT``), so a labgrid exporter can export it as a ``NetworkSerialPort``.
``--capture FILE.pcapng`` records every frame on the simulated air (``hal.capture``).
The stick answers XNCP custom frames as current community firmware does (``--no-xncp``: as stock
EmberZNet). ``--stats FILE`` appends one JSON line of the stick's counters (frames and wire bytes per
EZSP frame name, each direction; UART timer lateness; the process's CPU time) to FILE on every SIGUSR1 and
at exit, for measurements from outside. The stick serves on ``hal.ezsp_stick.realtime``'s loop, whose timers
keep the microsecond time a UART and a radio keep.
``--control PATH`` also serves the bench harness on a Unix socket at PATH (``hal.simlink``): a host that
opens the stick as ``ezsp:/dev/pts/N?sim_control=PATH`` can then do what a bench operator does to the
simulated devices (alert storms, faults, clocks, power cycles, the frame trace) through ``gw.sim``; the
radio traffic still goes only through the stick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hal import capture
from hal.ezsp_stick.exceptions import StickConfigError
from hal.ezsp_stick.pty import DEFAULT_BAUDRATE, VirtualStick
from hal.ezsp_stick.realtime import new_stick_loop

from .common import capture_option

if TYPE_CHECKING:
    from gateway.bench import BenchTrust, NetworkSettings


def _network(rig_path: Path | None) -> NetworkSettings:
    """The network the bench starts on: the rig's simulated radio's parameters, else the default bench."""
    from gateway.bench import NetworkSettings

    if rig_path is None:
        return NetworkSettings()
    from rigs.rigfile import load_rig

    rig = load_rig(rig_path)
    radio = next((r for r in rig.radios if r.url.startswith("sim:")), None)
    if radio is None:
        return NetworkSettings()
    return NetworkSettings(channel=radio.channel, pan_id=radio.pan_id, extended_pan_id=radio.extended_pan_id,
                           network_key=radio.network_key)


TRUST_ROOT = "TEST-ONLY-root.der"
TRUST_CA_DIR = "ca"


def write_trust(directory: Path, trust: BenchTrust) -> None:
    """The bench PKI's root as ``DIR/TEST-ONLY-root.der`` and its issuing CAs under ``DIR/ca/`` (DER): what
    a rig's certs step names as ``roots`` and ``cert_dir``."""
    try:
        (directory / TRUST_CA_DIR).mkdir(parents=True, exist_ok=True)
        (directory / TRUST_ROOT).write_bytes(trust.root)
        for index, der in enumerate(trust.intermediates, start=1):
            (directory / TRUST_CA_DIR / f"TEST-ONLY-ca-{index}.der").write_bytes(der)
    except OSError as exc:
        raise StickConfigError(f"sim stick: --trust-dir {directory}: {exc.strerror or exc}") from None


async def serve_stick(rig_path: Path | None, baudrate: int, trust_dir: Path | None = None,
                      tcp: tuple[str, int] | None = None, *, xncp: bool = True,
                      stats: Path | None = None, control: Path | None = None) -> None:
    """Build the bench (with the bench PKI on its ESMEs), open the stick (a pty, or a TCP port) and serve
    until SIGINT or SIGTERM."""
    from gateway.bench import bench_sim_config, virtual_han

    config, trust = bench_sim_config(rig_path)
    if trust_dir is not None:
        write_trust(trust_dir, trust)
    han = virtual_han(config, _network(rig_path))
    stop_capture = capture.attach_to_han(han, "virtual-stick")  # --capture: every frame on the air
    if tcp is not None:
        from hal.ezsp_stick.tcp import TcpStick

        stick: VirtualStick = TcpStick(han, host=tcp[0], port=tcp[1], baudrate=baudrate, power_up_han=True,
                                       xncp=xncp)
    else:
        stick = VirtualStick(han, baudrate=baudrate, power_up_han=True, xncp=xncp)
    path = await stick.start()
    server = None
    if control is not None:
        from hal.sim.control import HanControl
        from hal.simlink import SimControlServer

        server = SimControlServer(HanControl(han), control)
        try:
            await server.start()
        except OSError as exc:
            await stick.stop()
            raise StickConfigError(f"sim stick: --control {control}: {exc.strerror or exc}") from None

    def dump_stats() -> None:
        if stats is not None:
            with stats.open("a", encoding="utf-8") as file:
                file.write(json.dumps(stick.counters()) + "\n")

    click.echo(path)
    click.echo(f"virtual EZSPv{stick.ncp.version} stick at {baudrate} baud, {len(han.devices)} devices"
               f" (real time); Ctrl-C to stop", err=True)
    if control is not None:
        click.echo(f"bench control on {control}: open the stick as ezsp:{path}?sim_control={control}",
                   err=True)
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
        if server is not None:
            await server.stop()
        await han.stop()
        await stick.stop()
        if stop_capture is not None:
            stop_capture()


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
@click.option("--tcp", "tcp", metavar="HOST:PORT", default=None,
              help="Serve the stick on this TCP port (raw, as ser2net does) instead of a pty; port 0 picks "
                   "a free one. Prints socket://HOST:PORT.")
@click.option("--xncp/--no-xncp", default=True, show_default=True,
              help="Answer XNCP custom frames (combined send) as current community firmware does.")
@click.option("--stats", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append the stick's counters as a JSON line here on SIGUSR1 and at exit.")
@click.option("--control", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also serve the bench harness (storms, faults, clocks, trace) on this Unix socket; open "
                   "the stick as ezsp:PORT?sim_control=PATH to use it.")
@capture_option
def stick(rig_path: Path | None, baudrate: int, trust_dir: Path | None, tcp: str | None, xncp: bool,
          stats: Path | None, control: Path | None) -> None:
    """Serve a virtual EZSP stick on a pseudo-terminal (or --tcp) and print where (e.g. /dev/pts/3)."""
    from hal.ezsp_stick.pty import speed_constant
    from hal.ezsp_stick.tcp import parse_host_port

    speed_constant(baudrate)  # reject an unsupported rate before anything is built
    address = parse_host_port(tcp) if tcp is not None else None
    with asyncio.Runner(loop_factory=new_stick_loop) as runner:  # timers to the microsecond, as a UART's
        runner.run(serve_stick(rig_path, baudrate, trust_dir, address, xncp=xncp, stats=stats,
                               control=control))
