"""Property tests of the relaxed temporal sampling schemes (avjax.data.temporal)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from avjax.data import temporal

EPS = 1e-9
SETTINGS = settings(max_examples=60, deadline=None)

durations = st.floats(0.1, 30.0, allow_nan=False)
view_lengths = st.tuples(st.floats(0.1, 3.0), st.floats(0.1, 5.0))  # (d_v, d_a)
seeds = st.integers(0, 2**32 - 1)
schemes = st.sampled_from(temporal.SCHEMES)


def _views(seed, scheme, d_v, d_a, T_v, T_a):
    return temporal.sample_views(np.random.default_rng(seed), scheme, d_v, d_a, T_v, T_a)


def _fits(scheme, d_v, d_a, T_v, T_a):
    """The loaded windows fit the streams (no short-stream fallback)."""
    if scheme in ("far_apart", "v_far_a_same", "v_same_a_far"):
        return True  # every branch of the far-apart sampler keeps windows inside a long-enough stream
    D_v, D_a = temporal.effective_durations(scheme, d_v, d_a)
    return D_v <= T_v and D_a <= T_a


@SETTINGS
@given(seeds, schemes, view_lengths, durations, durations)
def test_windows_inside_the_clip(seed, scheme, d, T_v, T_a):
    d_v, d_a = d
    v = _views(seed, scheme, d_v, d_a, T_v, T_a)
    assert isinstance(v, temporal.ViewStarts) and len(v.video) == 2 and len(v.audio) == 2
    for s in v.video + v.audio:
        assert isinstance(s, float) and s >= -EPS
    # A stream shorter than its window starts at 0 (the reader pads); else the window is inside.
    if _fits(scheme, d_v, d_a, T_v, T_a):
        if d_v <= T_v:
            assert max(v.video) + d_v <= T_v + EPS
        if d_a <= T_a:
            assert max(v.audio) + d_a <= T_a + EPS
    if scheme in ("same_timestamp", "overlapped", "adjacent"):
        D_v, D_a = temporal.effective_durations(scheme, d_v, d_a)
        if D_v > T_v:
            assert v.video[0] == 0.0
        if D_a > T_a:
            assert v.audio[0] == 0.0


@SETTINGS
@given(seeds, st.sampled_from(["same_timestamp", "overlapped", "adjacent", "random"]),
       view_lengths, durations)
def test_video_inside_loaded_audio_window(seed, scheme, d, T):
    d_v, d_a = d
    if d_a <= d_v:
        d_v, d_a = d_a, d_v + 1e-3
    D_v, D_a = temporal.effective_durations(scheme, d_v, d_a)
    if D_a > T:
        return  # fallback branches: no containment in the official code either
    v = _views(seed, scheme, d_v, d_a, T, T)
    if scheme == "random":  # each draw on its own
        for k in (0, 1):
            assert v.audio[k] - EPS <= v.video[k] and v.video[k] + d_v <= v.audio[k] + d_a + EPS
    else:  # the loaded video window [v1, v2 + d_v] inside the loaded audio window [a1, a2 + d_a]
        assert v.audio[0] - EPS <= v.video[0]
        assert v.video[1] + d_v <= v.audio[1] + d_a + EPS


@SETTINGS
@given(seeds, st.floats(3.0, 30.0))
def test_exact_offsets_released_config(seed, T):
    d_v, d_a = 0.5, 2.0
    ov = _views(seed, "overlapped", d_v, d_a, T, T)
    assert ov.video[1] - ov.video[0] == pytest.approx(0.25)
    assert ov.audio[1] - ov.audio[0] == pytest.approx(1.0)
    # 12 frames at 16 fps loaded: view 2 = frames[-8:] starts 4 frames later.
    assert (ov.video[1] - ov.video[0]) * 16 == pytest.approx(12 - 8)
    adj = _views(seed, "adjacent", d_v, d_a, T, T)
    assert adj.video[1] - adj.video[0] == pytest.approx(d_v)
    assert adj.audio[1] - adj.audio[0] == pytest.approx(d_a)
    same = _views(seed, "same_timestamp", d_v, d_a, T, T)
    assert same.video[0] == same.video[1] and same.audio[0] == same.audio[1]


@SETTINGS
@given(seeds, schemes, view_lengths, durations, durations)
def test_deterministic_given_seed(seed, scheme, d, T_v, T_a):
    assert _views(seed, scheme, *d, T_v, T_a) == _views(seed, scheme, *d, T_v, T_a)


@SETTINGS
@given(seeds, view_lengths, st.floats(0.0, 20.0))
def test_far_apart_offset_about_half_the_clip(seed, d, extra):
    d_v, d_a = d
    T = 2 * max(d_v, d_a) + extra  # long enough for the shared (main) branch
    v = _views(seed, "far_apart", d_v, d_a, T, T)
    h = min(T / 2 - d_a, T / 2 - d_v)  # the official offset (`max_ss`): half the clip less a window
    assert v.video == v.audio
    assert v.video[1] - v.video[0] == pytest.approx(h)
    assert T / 2 - max(d_v, d_a) - EPS <= v.video[1] - v.video[0] <= T / 2
    assert v.video[0] <= h + EPS  # ss1 lies in the first half


@SETTINGS
@given(seeds, st.floats(0.1, 3.0), st.floats(0.1, 30.0))
def test_far_apart_fallback_is_half_the_clip(seed, d, T):
    # Audio window too long for half the clip: each modality on its own.
    d_v, d_a = d, T
    v = _views(seed, "far_apart", d_v, d_a, T, T)
    assert v.audio == (0.0, 0.0)
    if d_v <= T / 2:
        assert v.video[1] - v.video[0] == pytest.approx(T / 2)
    elif d_v <= T:
        assert v.video == (0.0, max(0.0, T - d_v))
    else:
        assert v.video == (0.0, 0.0)


@SETTINGS
@given(seeds, st.floats(5.0, 30.0))
def test_one_modality_far_the_other_repeated(seed, T):
    vfar = _views(seed, "v_far_a_same", 0.5, 2.0, T, T)
    far = _views(seed, "far_apart", 0.5, 2.0, T, T)
    assert vfar.video == far.video  # same draws, then the coin
    assert vfar.audio[0] == vfar.audio[1] and vfar.audio[0] in far.audio
    afar = _views(seed, "v_same_a_far", 0.5, 2.0, T, T)
    assert afar.audio == far.audio
    assert afar.video[0] == afar.video[1] and afar.video[0] in far.video


def test_both_coin_outcomes_happen():
    picks = {_views(s, "v_far_a_same", 0.5, 2.0, 10.0, 10.0).audio[0]
             == _views(s, "far_apart", 0.5, 2.0, 10.0, 10.0).audio[0] for s in range(40)}
    assert picks == {True, False}


@SETTINGS
@given(seeds, st.floats(0.1, 3.0), st.floats(0.1, 5.0), durations, durations)
def test_sample_snippet_official_branches(seed, D_v, D_a, T_v, T_a):
    a, v = temporal.sample_snippet(np.random.default_rng(seed), D_v, D_a, T_v, T_a)
    if D_v > T_v:
        assert v == 0.0
    else:
        assert 0.0 - EPS <= v and v + D_v <= T_v + EPS
    if D_a > T_a:
        assert a == 0.0
    else:
        assert 0.0 - EPS <= a and a + D_a <= T_a + EPS
    if D_v <= T_v and D_a <= T_a:  # both long enough: the shorter window inside the longer one
        short, long_, Ds, Dl = (v, a, D_v, D_a) if D_a > D_v else (a, v, D_a, D_v)
        assert long_ - EPS <= short and short + Ds <= long_ + Dl + EPS


def test_sample_snippet_stream_offsets():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, v = temporal.sample_snippet(rng, 0.75, 3.0, 10.0, 8.0, video_start=1.0, audio_start=2.0)
        assert 2.0 <= a <= 10.0 - 3.0 and a <= v and v + 0.75 <= a + 3.0
    with pytest.raises(ValueError, match="overlap"):
        temporal.sample_snippet(rng, 1.0, 1.0, 2.0, 2.0, video_start=0.0, audio_start=5.0)


def test_effective_durations():
    assert temporal.effective_durations("overlapped", 0.5, 2.0) == (0.75, 3.0)
    assert temporal.effective_durations("adjacent", 0.5, 2.0) == (1.0, 4.0)
    for s in ("same_timestamp", "random", "far_apart", "v_far_a_same", "v_same_a_far"):
        assert temporal.effective_durations(s, 0.5, 2.0) == (0.5, 2.0)


def test_bad_arguments_raise_clear_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown"):
        temporal.sample_views(rng, "overlap", 0.5, 2.0, 10.0, 10.0)
    with pytest.raises(ValueError, match="video_seconds"):
        temporal.sample_views(rng, "random", 0.0, 2.0, 10.0, 10.0)
