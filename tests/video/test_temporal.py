"""The flicker filter: calms still areas, leaves moving ones alone, resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest

from animegan.errors import InputError, ParamError
from animegan.video.samples import scene_frames
from animegan.video.temporal import TemporalSettings, TemporalSmoother, flicker_ratio


def flickering_style(frames: np.ndarray, seed: int) -> np.ndarray:
    """A stand-in stylizer that, like a GAN, amplifies input noise into per-frame shimmer."""
    rng = np.random.default_rng(seed)
    styled = 255 - frames.astype(np.float32)
    styled += rng.normal(0, 10, frames.shape)
    return np.clip(styled, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def scene():
    inputs = np.stack(list(scene_frames(96, 64, 24, noise=2.0, square=16)))
    outputs = np.stack([flickering_style(f, i) for i, f in enumerate(inputs)])
    return inputs, outputs


def smooth_all(inputs, outputs, **settings):
    smoother = TemporalSmoother(TemporalSettings(**settings))
    return np.stack([smoother(i, o) for i, o in zip(inputs, outputs)])


def test_flicker_in_still_areas_drops(scene):
    inputs, outputs = scene
    smoothed = smooth_all(inputs, outputs, strength=0.7)
    before, after = flicker_ratio(inputs, outputs), flicker_ratio(inputs, smoothed)
    assert before > 2.0  # the stand-in flickers well above the footage's own change
    assert after < 0.6 * before


def test_moving_square_is_not_ghosted(scene):
    inputs, outputs = scene
    smoothed = smooth_all(inputs, outputs, strength=0.9)
    # where the input changed a lot (the square's leading and trailing edges), the fresh frame wins
    moved = np.abs(np.diff(inputs.astype(np.float32), axis=0)).max(axis=-1) > 60
    fresh = np.abs(smoothed[1:].astype(np.float32) - outputs[1:].astype(np.float32)).max(axis=-1)
    assert moved.sum() > 200
    assert fresh[moved].mean() < 3.0


def test_strength_zero_is_the_identity_and_state_round_trips(scene):
    inputs, outputs = scene
    assert np.array_equal(smooth_all(inputs, outputs, strength=0.0), outputs)
    first, second = TemporalSmoother(), TemporalSmoother()
    for i in range(10):
        first(inputs[i], outputs[i])
    second.load_state(first.state())
    assert np.array_equal(first(inputs[10], outputs[10]), second(inputs[10], outputs[10]))


@pytest.mark.parametrize(("settings", "message"), [
    ({"strength": 1.0}, "temporal_strength 1.0: must be at least 0 and below 1"),
    ({"strength": -0.1}, "temporal_strength -0.1: must be at least 0"),
    ({"threshold": 0.0}, "temporal_threshold 0.0: must be above 0"),
    ({"radius": -1}, "temporal_radius -1: must be at least 0"),
])
def test_bad_settings_are_param_errors(settings, message):
    with pytest.raises(ParamError) as info:
        TemporalSettings(**settings)
    assert str(info.value) == message
    assert isinstance(info.value, InputError)
    assert info.value.as_flag().startswith("--" + message.split()[0].replace("_", "-"))
