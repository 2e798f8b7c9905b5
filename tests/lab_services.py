"""The lab's real services for tests and benchmarks, on localhost only: a throw-away PostgreSQL cluster
(the distribution's server package) and a labgrid coordinator with an exporter.

``TempPostgres`` runs ``initdb`` into a temporary directory and ``pg_ctl`` on a free 127.0.0.1 port (as
the ``postgres`` user when we are root, since the server refuses to run as root), and stops and removes
it at the end. ``LabgridLab`` starts ``labgrid-coordinator`` on a free port and ``labgrid-exporter``
processes, and drives ``labgrid-client`` for place set-up. Each raises ``ServiceUnavailable`` with the
reason when a piece is missing, so the tests that need it skip saying why.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_BIN_ENV = "HANRIG_PG_BIN"
START_TIMEOUT_S = 60.0


class ServiceUnavailable(RuntimeError):
    """A service the tests need cannot start here (package missing, refused to start)."""


def lab_unavailable(reason: str) -> None:
    """Skip the test saying why; under HANRIG_REQUIRE_LAB=1 (CI, which installs the services) fail it."""
    import pytest

    if os.environ.get("HANRIG_REQUIRE_LAB") == "1":
        pytest.fail(f"lab service unavailable but HANRIG_REQUIRE_LAB=1: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceUnavailable(f"{what} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServiceUnavailable(f"{what} not listening on 127.0.0.1:{port} after {timeout:.0f} s")


def postgres_bin_dir() -> Path:
    """Where initdb and pg_ctl are: $HANRIG_PG_BIN, Debian's /usr/lib/postgresql/N/bin, or $PATH."""
    if os.environ.get(PG_BIN_ENV):
        return Path(os.environ[PG_BIN_ENV])
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                    key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ServiceUnavailable("no PostgreSQL server binaries (apt-get install postgresql, or set "
                             f"{PG_BIN_ENV})")


class TempPostgres:
    """A temporary PostgreSQL cluster on 127.0.0.1; superuser ``hanrig``, trust authentication."""

    def __init__(self, fsync: bool = False):
        self.bin = postgres_bin_dir()
        self.fsync = fsync
        self.base = Path(tempfile.mkdtemp(prefix="hanrig-pg-"))
        self.data = self.base / "data"
        self.port = 0
        self._user: str | None = None
        self._dbs = 0

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self._user, "--", *args] if self._user else list(args)

    def start(self) -> TempPostgres:
        if os.geteuid() == 0:  # postgres refuses root: run it as the distribution's postgres user
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise ServiceUnavailable("running as root and there is no 'postgres' user to run the "
                                         "server as") from None
            if shutil.which("runuser") is None:
                raise ServiceUnavailable("running as root and runuser is missing")
            self._user = "postgres"
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        initdb = subprocess.run(
            self._cmd(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "hanrig",
                      "--no-locale", "-E", "UTF8"),
            capture_output=True, text=True)
        if initdb.returncode != 0:
            raise ServiceUnavailable(f"initdb failed: {initdb.stderr.strip()[-300:]}")
        self.port = free_port()
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                   f"-c fsync={'on' if self.fsync else 'off'}")
        started = subprocess.run(
            self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                      "-l", str(self.base / "server.log"), "-w", "-t", str(int(START_TIMEOUT_S)), "start"),
            capture_output=True, text=True)
        if started.returncode != 0:
            server_log = self.base / "server.log"
            log = server_log.read_text(errors="replace") if server_log.exists() else started.stderr
            raise ServiceUnavailable(f"pg_ctl start failed: {log.strip()[-300:]}")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://hanrig@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh empty database; returns its URL."""
        import psycopg

        self._dbs += 1
        name = f"{prefix}_{os.getpid()}_{self._dbs}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.port and self.data.exists():
            subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                                     "-w", "stop"), capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


# --------------------------------------------------------------------------------------------- labgrid
def _venv_script(name: str) -> str:
    """A console script of this interpreter's environment (the venv's labgrid-*), else from $PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ServiceUnavailable(f"{name} not installed (pip install 'hanrig[lab]')")
    return found


class LabgridLab:
    """A labgrid coordinator on 127.0.0.1 and the exporters and places a test sets up."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="hanrig-labgrid-"))
        self.port = 0
        self.coordinator: subprocess.Popen | None = None
        self.processes: list[subprocess.Popen] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, LG_COORDINATOR=self.address, **extra)
        env.pop("LG_PLACE", None)
        return env

    def start_coordinator(self, port: int | None = None) -> None:
        """Start the coordinator (again, on the same port and with the same places, when given one)."""
        self.port = port or free_port()
        # the coordinator keeps places.yaml / resources.yaml in its working directory
        self.coordinator = subprocess.Popen(
            [_venv_script("labgrid-coordinator"), "-l", self.address], cwd=self.base,
            stdout=(self.base / "coordinator.log").open("ab"), stderr=subprocess.STDOUT)
        wait_for_port(self.port, START_TIMEOUT_S, self.coordinator, "labgrid-coordinator")

    def stop_coordinator(self) -> None:
        if self.coordinator is not None and self.coordinator.poll() is None:
            self.coordinator.send_signal(signal.SIGKILL)
            self.coordinator.wait(timeout=10)
        self.coordinator = None

    def start_exporter(self, name: str, config: str) -> subprocess.Popen:
        path = self.base / f"exporter-{name}.yaml"
        path.write_text(config)
        proc = subprocess.Popen(
            [_venv_script("labgrid-exporter"), "-c", self.address, "-n", name, "--hostname", "127.0.0.1",
             str(path)], cwd=self.base, stdout=(self.base / f"exporter-{name}.log").open("ab"),
            stderr=subprocess.STDOUT)
        self.processes.append(proc)
        return proc

    def client(self, *args: str, check: bool = True, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
        done = subprocess.run([_venv_script("labgrid-client"), "-x", self.address, *args],
                              capture_output=True, text=True, timeout=timeout, env=env or self.env())
        if check and done.returncode != 0:
            raise RuntimeError(f"labgrid-client {' '.join(args)}: {done.stderr.strip()}")
        return done

    def wait_for_resource(self, pattern: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pattern in self.client("resources", check=False).stdout:
                return
            time.sleep(0.2)
        raise ServiceUnavailable(f"labgrid resource {pattern} never appeared at the coordinator")

    def stop(self) -> None:
        for proc in [*self.processes]:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.processes.clear()
        self.stop_coordinator()
        shutil.rmtree(self.base, ignore_errors=True)
