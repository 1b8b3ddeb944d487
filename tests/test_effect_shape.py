"""Every effect in the registry has the one shape: built from its sections, ``apply`` returns
(image, outputs) with outputs only from what it declares, ``update`` takes the same sections, and
``close`` exists. Each bench configuration builds and runs through the real pipeline."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from livecam import settings as S
from livecam.effects import REGISTRY, Effect, bench_configs, build_effect, sections_for
from livecam.effects.base import NEEDS
from livecam.pipeline import Pipeline
from livecam.types import Analysis

FIXTURES = Path(__file__).parent / "fixtures"
ANALYSIS_FIELDS = {f.name for f in dataclasses.fields(Analysis)} - {"timings"}


def _settings_for(config: str) -> S.Settings:
    changes = bench_configs()[config]
    settings = S.update(S.Settings(), **changes)
    if settings.avatar.mode != "off":
        settings = S.update(settings, avatar={"photo": str(FIXTURES / "mpl_grace_hopper.jpg")})
    return settings


@pytest.mark.parametrize("config", sorted(set(bench_configs()) - {"rvm"}))
def test_every_bench_configuration_runs_with_the_one_shape(config, astronaut):
    settings = _settings_for(config)
    pipeline = Pipeline(settings)
    try:
        assert not pipeline.unbuildable(), pipeline.unbuildable()
        frame = np.ascontiguousarray(astronaut)
        for _ in range(3):
            out = pipeline.process(frame)
        assert out.shape == frame.shape and out.dtype == np.uint8
        analysis = pipeline.last_analysis
        for spec in REGISTRY:
            effect = build_effect(spec, settings)
            if effect is None:
                continue
            try:
                assert isinstance(effect, Effect)
                assert effect.provides <= ANALYSIS_FIELDS, f"{spec.name} declares data Analysis has no field for"
                assert effect.needs <= NEEDS
                image, outputs = effect.apply(frame.copy(), analysis)
                assert isinstance(image, np.ndarray) and image.shape == frame.shape
                assert set(outputs) <= effect.provides, f"{spec.name} returned undeclared {set(outputs) - effect.provides}"
                assert effect.update(*sections_for(spec, settings)) in (True, False)
            finally:
                effect.close()
    finally:
        pipeline.close()


def test_an_effect_that_returns_undeclared_data_fails_closed(astronaut, monkeypatch):
    from livecam.effects import background as background_module
    from livecam.effects.base import EffectBase

    class Sneaky(EffectBase):
        needs = frozenset({"mask"})

        def apply(self, image, analysis):
            return image, {"mask": np.zeros(image.shape[:2], np.uint8)}

    monkeypatch.setattr(background_module, "build_background", lambda *a: Sneaky())
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur"}))
    out = pipeline.process(astronaut)
    assert pipeline.concealed == 1
    assert not np.array_equal(out, astronaut)
