"""Trust round 54: the frame path (capture -> models -> effects -> gate -> sinks/recording).

1. A hand model that fails (its answer NaN or infinite in part: a faulty execution provider, a damaged
   run) under a face swap: the one sentence said "LiveCam bridges a few frames with the last good result,
   then hides the picture", the words of a failed mask or face model. The hands are only lost (the swap
   then draws over a hand raised to the face, which shows no more), so no frame was hidden, ever: the
   sentence promised a hidden picture that never came and said nothing of what did happen. It now says
   what the fault costs. So did a hand model that cannot be loaded (a damaged file): "The hands effects are
   paused until the settings change", though no effect paused. A failed person mask keeps its words, and
   its picture is still hidden (guard).

The other faults tried on this path (odd camera frames, every effect at odd sizes, a model answering in
part NaN/Inf/denormal/huge, a full disk and a stopped or killed encoder under a recording, a 6 minute
traced session) held; see /work/notes/redteam54_report.md.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from livecam import settings as S
from livecam.analysis import hands
from livecam.analysis.runtime import ModelError
from livecam.pipeline import Pipeline

from conftest import FIXTURES, video_frames
from live_doubles import ModelAnswers

SIZE = (640, 360)


def _partly_nan(outs: list) -> list:
    """The model's own answer with every third value NaN."""
    spoiled = []
    for out in outs:
        out = np.array(out, np.float32, copy=True)
        out.reshape(-1)[::3] = math.nan
        spoiled.append(out)
    return spoiled


def _damaged(*_args, **_kwargs):
    raise ModelError("Model hand_landmark_lite is damaged (its checksum does not match); reinstall LiveCam.")


@pytest.mark.parametrize("fault", ["answers NaN in part", "cannot be loaded"])
def test_a_failing_hand_model_under_a_face_swap_says_what_it_costs_and_nothing_is_hidden(monkeypatch, caplog, fault):
    if fault == "cannot be loaded":
        monkeypatch.setattr(hands, "load_model", _damaged)
    else:
        ModelAnswers(monkeypatch, ("palm_detection",)).answer = _partly_nan
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "off"},
                                 avatar={"mode": "swap", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")},
                                 runtime={"threads": 1, "provider": "cpu"}))
    try:
        frames = video_frames("lp_d12_talking_indoor.mp4", 30, SIZE)
        with caplog.at_level(logging.ERROR):
            outs = [pipeline.process(frame.copy()) for frame in frames]
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(said) == 1, said
        # What happened: the swap went on, on every frame, and no frame was hidden for the hands.
        assert pipeline.gate.hidden == 0
        assert not any(np.array_equal(out, frame) for out, frame in zip(outs, frames))
        # What was said: that, and neither a hidden picture nor a paused effect.
        assert "hides the picture" not in said[0] and "paused" not in said[0], said[0]
        assert "draw over a hand" in said[0] and "not hidden" in said[0], said[0]
    finally:
        pipeline.close()


def test_a_failing_person_mask_keeps_its_sentence_and_its_picture_is_hidden(monkeypatch, caplog):
    """Guard: the sentence of the mask (and faces) is unchanged, and true: the picture is hidden."""
    person = ModelAnswers(monkeypatch, ("selfie_segmentation",))
    person.answer = _partly_nan
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur", "blur": 60},
                                 segmentation={"model": "landscape"}, runtime={"threads": 1, "provider": "cpu"}))
    try:
        with caplog.at_level(logging.ERROR):
            for frame in video_frames("lp_d12_talking_indoor.mp4", 10, SIZE):
                pipeline.process(frame)
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Analysis (mask) failed")]
        assert len(said) == 1 and said[0].endswith("then hides the picture, and keeps trying."), said
        assert pipeline.gate.hidden == 10
    finally:
        pipeline.close()
