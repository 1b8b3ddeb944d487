"""The doctor's CUDA check runs beside the live loop (the settings window asks for it while LiveCam is on).

It keeps its own model load quiet (its doctor line says the failure once), and that quiet once was a level
set on the runtime's shared logger for the check's whole length: a GPU lost meanwhile moved the live person
mask to the CPU without a word (round 33's test failed after round 44's, whose tray left its check running).
"""
from __future__ import annotations

import logging
import threading

from livecam import doctor
from livecam.analysis import runtime

WAIT_S = 10.0


def test_the_cuda_check_quiets_its_own_runtime_lines_and_no_other_threads(monkeypatch, caplog):
    inside, done = threading.Event(), threading.Event()

    def load_model(name, provider="auto", *args, **kwargs):
        runtime.log.warning("the check's own model fell back")  # said by the doctor line instead
        inside.set()
        done.wait(WAIT_S)
        raise runtime.ModelError("no CUDA here")

    monkeypatch.setattr(runtime, "load_model", load_model)
    answer: list = []
    check = threading.Thread(target=lambda: answer.append(doctor._cuda_really_works()), name="livecam-checks")
    with caplog.at_level(logging.WARNING):
        check.start()
        try:
            assert inside.wait(WAIT_S), "the check never loaded its model"
            runtime.log.warning("the live model runs on the CPU from now on")  # the live loop, meanwhile
        finally:
            done.set()
            check.join(WAIT_S)
        runtime.log.warning("after the check")
    said = [r.getMessage() for r in caplog.records if r.name == runtime.__name__]
    assert said == ["the live model runs on the CPU from now on", "after the check"], said
    assert answer == [(None, "")]
    assert not logging.getLogger(runtime.__name__).filters  # nothing of the check stays on the logger
