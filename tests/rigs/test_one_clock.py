"""One clock per record (issue 15): records are on the wall clock; simulated time goes beside it.

A run on the simulated bench (virtual time) used to stamp records with the wall-clock start plus
simulated seconds, so its end lay in the future and JUnit said hundreds of seconds for a run of a few.
Now every record's time is wall-clock, events carry ``sim_time`` (labelled), steps a ``sim_duration_s``
measurement beside their wall duration, and the run logs how much simulated time passed.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

from rigs.records import EventKind
from rigs.rigfile import load_rig
from rigs.runner import RunOptions, run_rig

RIG = """
[rig]
name = "one-clock"

[[radios]]
id = "sim"
url = "sim://"

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"
radio = "sim"

[sim]
seed = 1
clock = "virtual"

[[plan.steps]]
step = "join"
timeout_s = 120

[[plan.steps]]
step = "ota"
timeout_s = 600
"""


def test_records_are_on_the_wall_clock_with_simulated_time_beside(tmp_path: Path) -> None:
    rig_file = tmp_path / "rig.toml"
    rig_file.write_text(RIG)
    junit = tmp_path / "junit.xml"
    before = time.time()
    result = run_rig(load_rig(rig_file), RunOptions(results=str(tmp_path / "results"), junit=junit))
    after = time.time()
    run = result.record
    wall_s = after - before
    assert before <= run.start <= run.end <= after  # never wall start + simulated seconds
    steps = [s for d in run.duts for s in d.steps]
    assert all(before <= s.start <= s.end <= after for s in steps)
    sim = {s.name: next(m.value for m in s.measurements if m.name == "sim_duration_s") for s in steps}
    assert sim["ota"] > wall_s  # the OTA took minutes of simulated time in seconds of wall time
    events = [e for d in run.duts for e in d.events] + run.events
    assert all(before <= e.time <= after for e in events)
    progress = [e for e in events if e.kind is EventKind.OTA_PROGRESS]
    assert progress and all("sim_time" in e.data for e in progress)
    assert progress[-1].data["sim_time"] - progress[0].data["sim_time"] > wall_s
    (summary,) = [e for e in run.events if "sim_elapsed_s" in e.data]
    assert summary.data["sim_elapsed_s"] > summary.data["wall_elapsed_s"]
    total = float(ET.parse(junit).getroot().get("time"))
    assert total <= wall_s  # JUnit durations are wall time
