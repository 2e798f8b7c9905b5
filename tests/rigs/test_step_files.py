"""Files a rig step names (images, roots, CA certificates) are read off the event loop (issue 15): in a
worker thread, so a slow disk never stalls the radios and the other DUTs; a bad one is a StepError
naming the step, what it is and the file."""

from __future__ import annotations

import threading

import pytest

from hanrig_errors import CERT_MAX
from rigs import steps
from rigs.exceptions import StepError


async def test_a_step_file_is_read_in_a_worker_thread(tmp_path, monkeypatch):
    path = tmp_path / "root.pem"
    path.write_bytes(b"root")
    readers = []
    real = steps.read_input

    def spy(*args, **kwargs):
        readers.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(steps, "read_input", spy)
    assert await steps.read_step_file("certs", path, "root", CERT_MAX) == b"root"
    assert readers and readers[0] is not threading.main_thread()


async def test_a_bad_step_file_names_the_step_and_the_file(tmp_path):
    with pytest.raises(StepError) as info:
        await steps.read_step_file("ota_negative", tmp_path / "gone.ota", "image", CERT_MAX)
    assert str(info.value).startswith("step ota_negative: image ") and "gone.ota" in str(info.value)
