"""The lab at scale, end to end on localhost: a labgrid coordinator, an exporter publishing ``hanrig sim
stick --tcp`` as a ``NetworkSerialPort``, a place naming it, and results in PostgreSQL.

A rig run through ``labgrid://`` passes and lands in PostgreSQL (and releases the place); a place held by
someone else is refused within seconds naming the holder, and ``--wait`` waits for it; the coordinator
killed mid-run ends the run cleanly as a resumable ERROR; of two concurrent resumes one is refused.
Everything runs in real time (the stick is a separate process), so the plans are short.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from lab_services import LabgridLab, ServiceUnavailable, free_port, lab_unavailable

from rigs.records import RunOutcome, RunStatus, StepOutcome
from rigs.store import open_store

BIN = Path(sys.executable).parent
PLACE = "han-bench-1"
DEAD_PLACE = "han-bench-unplugged"  # its serial resource points at a port nobody serves
STICK_RIG = """
[rig]
name = "stick-bench"

[[radios]]
id = "sim"
url = "sim://"

[sim]
seed = 3
clock = "real"

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"
radio = "sim"
[devices.sim]
query_jitter_s = 0.2
"""


def lab_rig(coordinator: str, results: str, alerts_s: float) -> str:
    return f"""
[rig]
name = "lab-bench"

[labgrid]
coordinator = "{coordinator}"

[[radios]]
id = "stick"
url = "labgrid://{PLACE}"

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"
radio = "stick"

[results]
url = "{results}"

[[plan.steps]]
step = "join"
timeout_s = 60

[[plan.steps]]
step = "inventory"

# on a stick the alert step watches the hub's alert intake for duration_s of real time
[[plan.steps]]
step = "alerts"
duration_s = {alerts_s}
timeout_s = 120
"""


@dataclass
class Lab:
    services: LabgridLab
    exporter_config: str
    stick: subprocess.Popen
    base: Path

    def restart(self) -> None:
        """A coordinator back after a crash (it keeps its places), and its exporter reconnected."""
        self.services.start_coordinator(port=self.services.port)
        for proc in self.services.processes:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        self.services.processes.clear()
        self.services.start_exporter("exporter-a", self.exporter_config)
        self.services.wait_for_resource("exporter-a/stick/NetworkSerialPort")

    def holder(self, place: str = PLACE) -> str:
        out = self.services.client("-p", place, "show").stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if "acquired:" in line)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        import labgrid  # noqa: F401
    except ModuleNotFoundError:
        lab_unavailable("labgrid is not installed (pip install 'hanrig[lab]')")
    base = tmp_path_factory.mktemp("lab")
    (base / "stick.toml").write_text(STICK_RIG)
    services = LabgridLab()
    stick = None
    try:
        services.start_coordinator()
        port = free_port()
        stick = subprocess.Popen([str(BIN / "hanrig"), "sim", "stick", "--rig", str(base / "stick.toml"),
                                  "--tcp", f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                                 stderr=(base / "stick.log").open("ab"), text=True)
        if not stick.stdout.readline().startswith("socket://"):
            raise ServiceUnavailable("hanrig sim stick --tcp did not start")
        config = (f"stick:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {port}\n"
                  "    speed: 115200\n    protocol: raw\n"
                  f"dead:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {free_port()}\n"
                  "    protocol: raw\n")
        services.start_exporter("exporter-a", config)
        services.wait_for_resource("exporter-a/stick/NetworkSerialPort")
        services.client("-p", PLACE, "create")
        services.client("-p", PLACE, "add-match", "exporter-a/stick/NetworkSerialPort")
        services.client("-p", DEAD_PLACE, "create")
        services.client("-p", DEAD_PLACE, "add-match", "exporter-a/dead/NetworkSerialPort")
    except (ServiceUnavailable, RuntimeError) as exc:
        services.stop()
        if stick is not None:
            stick.kill()
        lab_unavailable(f"labgrid lab: {exc}")
    yield Lab(services, config, stick, base)
    stick.terminate()
    stick.wait(timeout=15)
    services.stop()


# One bench host: its zigpy database (per radio URL) outlives each run, as on a real bench, where the
# stick keeps its network and its joined devices between runs.
def hanrig(lab: Lab, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "hanrig"), *args], capture_output=True, text=True, timeout=timeout,
                          env=lab.services.env(HANRIG_DATA_DIR=str(lab.base / "data")))


def start_hanrig(lab: Lab, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "hanrig"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=lab.services.env(HANRIG_DATA_DIR=str(lab.base / "data")))


def read_until(stream, words: str, timeout: float = 90) -> list[str]:
    """Lines of ``stream`` up to the first containing ``words``."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if words in line:
            return seen
    raise AssertionError(f"never saw {words!r}; got:\n{''.join(seen)}")


def test_a_rig_run_through_labgrid_passes_and_lands_in_postgres(lab, postgres_url, tmp_path):
    rig = tmp_path / "lab.toml"
    rig.write_text(lab_rig(lab.services.address, postgres_url, alerts_s=1))
    run = hanrig(lab, "rig", "run", str(rig), "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "PASS" and summary["results"] == postgres_url
    assert [s["name"] for s in summary["duts"][0]["steps"]] == ["join", "inventory", "alerts"]
    assert lab.holder() == "None"  # released on the way out
    shown = hanrig(lab, "results", "show", summary["run_id"], "--results", postgres_url, "--check", "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["run"]["status"] == "finished" and doc["run"]["radio_firmware"]
    assert {s["name"]: s["outcome"] for s in doc["duts"][0]["steps"]} == {
        "join": "PASS", "inventory": "PASS", "alerts": "PASS"}


def test_a_busy_place_is_refused_in_seconds_and_waited_for_with_wait(lab):
    env = lab.services.env(LG_USERNAME="alice", LG_HOSTNAME="bench-pc")
    lab.services.client("-p", PLACE, "acquire", env=env)
    try:
        started = time.monotonic()
        refused = hanrig(lab, "radio", "info", "--radio", f"labgrid://{PLACE}")
        assert time.monotonic() - started < 20  # a python start-up, a gRPC round trip: seconds
        assert refused.returncode == 3
        assert refused.stderr.strip().splitlines()[-1].startswith(
            f"hanrig: error: radio labgrid://{PLACE}: labgrid place '{PLACE}' is held by bench-pc/alice; "
            "not opening it behind their back")
        assert lab.holder() == "bench-pc/alice"  # untouched
        waiting = start_hanrig(lab, "radio", "info", "--radio", f"labgrid://{PLACE}", "--wait", "--json")
        read_until(waiting.stderr, f"labgrid place '{PLACE}' is held by bench-pc/alice; waiting for it")
        assert waiting.poll() is None
    finally:
        lab.services.client("-p", PLACE, "release", env=env)
    out, err = waiting.communicate(timeout=90)
    assert waiting.returncode == 0, err
    assert json.loads(out)["network_state"] == "formed"
    assert lab.holder() == "None"


def test_the_place_is_released_on_error_and_on_sigint(lab, postgres_url, tmp_path):
    unplugged = hanrig(lab, "radio", "info", "--radio", f"labgrid://{DEAD_PLACE}")
    assert unplugged.returncode == 3 and "Traceback" not in unplugged.stderr
    assert unplugged.stderr.strip().splitlines()[-1].startswith(f"hanrig: error: radio labgrid://{DEAD_PLACE}")
    assert lab.holder(DEAD_PLACE) == "None"

    rig = tmp_path / "lab.toml"
    rig.write_text(lab_rig(lab.services.address, postgres_url, alerts_s=30))
    run = start_hanrig(lab, "rig", "run", str(rig))
    read_until(run.stderr, "alerts")
    assert lab.holder() != "None"
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert lab.holder() == "None"
    with open_store(postgres_url) as store:
        assert store.list_runs()[0].outcome is RunOutcome.ABORTED


def test_coordinator_lost_mid_run_then_resumed_and_a_second_resume_refused(lab, postgres_url, tmp_path):
    rig = tmp_path / "lab.toml"
    rig.write_text(lab_rig(lab.services.address, postgres_url, alerts_s=6))
    run = start_hanrig(lab, "rig", "run", str(rig), "--json")
    read_until(run.stderr, "alerts")  # the place is held and a step is in flight
    lab.services.stop_coordinator()
    started = time.monotonic()
    out, err = run.communicate(timeout=60)
    assert time.monotonic() - started < 30
    assert run.returncode == 3, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hanrig: error: run ") and "went away while place 'han-bench-1' was held" in last
    assert "Traceback" not in err
    with open_store(postgres_url) as store:
        (summary,) = store.list_runs()
        stored = store.load_run(summary.run_id)
    assert summary.status is RunStatus.FINISHED and summary.outcome is RunOutcome.ERROR
    steps = {s.name: s.outcome for s in stored.dut("ihd").steps}
    assert steps == {"join": StepOutcome.PASS, "inventory": StepOutcome.PASS, "alerts": StepOutcome.ERROR}

    lab.restart()
    assert lab.holder() == "None"  # a restarted coordinator forgets acquisitions
    first = start_hanrig(lab, "rig", "run", str(rig), "--resume", summary.run_id, "--json")
    read_until(first.stderr, "alerts")
    second = hanrig(lab, "rig", "run", str(rig), "--resume", summary.run_id)
    assert second.returncode == 2, second.stderr
    assert (f"run {summary.run_id}: already being written by hanrig@" in second.stderr
            and f"pid {first.pid}" in second.stderr)
    out, err = first.communicate(timeout=90)
    assert first.returncode == 0, err
    resumed = json.loads(out)
    assert resumed["outcome"] == "PASS" and resumed["attempt"] == 2
    with open_store(postgres_url) as store:
        final = store.load_run(summary.run_id)
    assert final.status is RunStatus.FINISHED and final.outcome is RunOutcome.PASS and final.attempts == 2
    # only what did not pass ran again
    assert [(s.name, s.attempt) for s in final.dut("ihd").steps] == [
        ("join", 1), ("inventory", 1), ("alerts", 1), ("alerts", 2)]
    assert lab.holder() == "None"


def test_no_coordinator_and_no_such_place_are_one_line(lab):
    dead = free_port()
    down = hanrig(lab, "radio", "info", "--radio", f"labgrid://{PLACE}?coordinator=127.0.0.1:{dead}")
    assert down.returncode == 3
    assert down.stderr.strip() == (f"hanrig: error: radio labgrid://{PLACE}?coordinator=127.0.0.1:{dead}: "
                                   f"labgrid coordinator 127.0.0.1:{dead} does not answer")
    unknown = hanrig(lab, "radio", "info", "--radio", "labgrid://no-such-bench")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().endswith(f"no labgrid place 'no-such-bench' at coordinator "
                                           f"{lab.services.address} (places: {PLACE}, {DEAD_PLACE})")
