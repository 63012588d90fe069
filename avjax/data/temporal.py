"""Relaxed temporal sampling (CrissCross, Sarkar & Etemad, AAAI 2023): where each view's window starts.

Pure NumPy, pure functions: given an rng and the stream durations they return start times in
seconds; the caller decodes only those windows. Faithful to the official loader
(`train/datasets/loader/backend_pretext/video_db.py`, `mode: two_clips`, the scheme is its
`submode`). d_v, d_a are the lengths of one view's window (0.5 s video and 2 s audio in the
released config); T_v, T_a the stream durations.

| scheme         | window drawn | view 1 / view 2 starts                       | offset t2 - t1         |
|----------------|--------------|----------------------------------------------|------------------------|
| same_timestamp | d            | one draw, used twice                         | 0                      |
| overlapped     | 1.5 d        | first d / last d of the one drawn window     | 0.5 d (0.25 s / 1 s)   |
| adjacent       | 2 d          | first half / second half of the drawn window | d (no overlap)         |
| random         | d            | two independent `sample_snippet` draws       | random                 |
| far_apart      | d            | ss1 ~ U over the first half, ss2 = ss1 + h;  | h ~ half the clip      |
|                |              | audio and video share their starts           |                        |
| v_far_a_same   | d            | video as far_apart; audio: one of the two    | video h, audio 0       |
|                |              | far-apart audio starts (coin flip), twice    |                        |
| v_same_a_far   | d            | audio as far_apart; video: one of the two    | video 0, audio h       |
|                |              | far-apart video starts (coin flip), twice    |                        |

`sample_snippet` (the official `_sample_snippet`) draws one window pair (D_v, D_a): the longer
modality's window uniformly where both fit, then the shorter one uniformly inside it, so the video
window lies inside the audio window when D_a > D_v. A stream shorter than its window falls back to
its start (the reader then clamps / zero-pads). For overlapped / adjacent the second view always
starts 0.5 d / d after the first, even in a short stream (the official `frames[-n:]` of a short
decode would start earlier; here the window keeps its nominal place, and the reader repeats the last
frame past the end of the video and zero-pads the audio, as the official audio reader does).

`far_apart` (the official `_sample_snippet2`): when both streams are at least twice their window,
h = min(T_a / 2 - d_a, T_v / 2 - d_v) (= `max_ss`; e.g. 3 s for a 10 s clip and d_a = 2) and
ss1 ~ U(0, h), shared by audio and video; otherwise each modality on its own: a stream shorter than
its window gives (0, 0), one shorter than twice its window gives (0, T - d), else
ss1 ~ U(0, T/2 - d) and h = T/2. (The method brief says "ss2 = ss1 + half-length": true in the
fallback, but the official main branch adds `max_ss`, which keeps the second window inside the clip.)

Differences from the official code, none of which changes a start time for streams starting at 0:
an rng (`np.random.Generator`) replaces Python's `random`; a stream's own start replaces a literal 0
in the short-stream fallbacks; the official `assert max_ss > min_ss` (which fails when a stream is
exactly as long as its window) is relaxed to `>=`; `far_apart` takes streams starting at 0.
"""
from __future__ import annotations

import dataclasses

import numpy as np

SCHEMES = ("same_timestamp", "overlapped", "adjacent", "random", "far_apart", "v_far_a_same",
           "v_same_a_far")

# How much longer than one view the window drawn by `sample_snippet` is, per scheme.
_WINDOW_FACTOR = {"same_timestamp": 1.0, "overlapped": 1.5, "adjacent": 2.0, "random": 1.0,
                  "far_apart": 1.0, "v_far_a_same": 1.0, "v_same_a_far": 1.0}


@dataclasses.dataclass(frozen=True)
class ViewStarts:
    """Start times in seconds of each view's window.

    video: (v1_start, v2_start), each window lasts `video_seconds`.
    audio: (a1_start, a2_start), each window lasts `audio_seconds`.
    """
    video: tuple[float, float]
    audio: tuple[float, float]


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"temporal scheme {scheme!r} is unknown: use one of {SCHEMES}")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name}={value!r}: must be > 0 seconds")


def _uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Python's `random.uniform(lo, hi)` on `rng`: lo + (hi - lo) * U[0, 1), also when hi < lo by
    a rounding error (numpy's `uniform` refuses that)."""
    return float(lo + (hi - lo) * rng.random())


def effective_durations(scheme: str, video_seconds: float, audio_seconds: float) -> tuple[float, float]:
    """(D_v, D_a): the window lengths one `sample_snippet` draw loads for `scheme`.

    overlapped: 1.5x each view; adjacent: 2x; every other scheme: 1x (its views are separate draws).
    """
    _check_scheme(scheme)
    f = _WINDOW_FACTOR[scheme]
    return f * video_seconds, f * audio_seconds


def sample_snippet(rng: np.random.Generator, D_v: float, D_a: float, video_duration: float,
                   audio_duration: float, video_start: float = 0., audio_start: float = 0.
                   ) -> tuple[float, float]:
    """(a_ss, v_ss): start times of one audio window of D_a s and one video window of D_v s.

    The official `_sample_snippet` with both streams returned:
      both streams shorter than their windows -> (audio_start, video_start);
      only video short -> video at its start, a_ss ~ U(a_st, a_end - D_a);
      only audio short -> audio at its start, v_ss ~ U(v_st, v_end - D_v);
      both long enough -> min_ss = max(a_st, v_st), max_ss = min(a_end - D_a, v_end - D_v), and
        D_a > D_v:  a_ss ~ U(min_ss, max_ss), v_ss ~ U(max(a_ss, v_st), min(a_ss + D_a, v_end) - D_v)
                    (the video window lies inside the audio window);
        otherwise:  v_ss ~ U(min_ss, max_ss), a_ss ~ U(max(v_ss, a_st), min(v_ss + D_v, a_end) - D_a).
    Raises ValueError when both streams are long enough but their time ranges do not overlap
    enough to hold both windows (the official code asserts).
    """
    _check_positive(D_v=D_v, D_a=D_a)
    v_st, a_st = float(video_start), float(audio_start)
    v_end, a_end = v_st + float(video_duration), a_st + float(audio_duration)
    video_short, audio_short = D_v > video_duration, D_a > audio_duration
    if video_short and audio_short:
        return a_st, v_st
    if video_short:
        return _uniform(rng, a_st, a_end - D_a), v_st
    if audio_short:
        return a_st, _uniform(rng, v_st, v_end - D_v)
    min_ss, max_ss = max(a_st, v_st), min(a_end - D_a, v_end - D_v)
    if max_ss < min_ss:
        raise ValueError(
            f"the audio stream [{a_st}, {a_end}] s and the video stream [{v_st}, {v_end}] s do not "
            f"overlap enough for windows of {D_a} s and {D_v} s")
    if D_a > D_v:
        a_ss = _uniform(rng, min_ss, max_ss)
        v_ss = _uniform(rng, max(a_ss, v_st), min(a_ss + D_a, v_end) - D_v)
    else:
        v_ss = _uniform(rng, min_ss, max_ss)
        a_ss = _uniform(rng, max(v_ss, a_st), min(v_ss + D_v, a_end) - D_a)
    return a_ss, v_ss


def _far_pair(rng: np.random.Generator, d: float, duration: float) -> tuple[float, float]:
    """One modality on its own (the official fallback branches of `_sample_snippet2`)."""
    if d > duration:
        return 0., 0.
    if d > duration / 2:
        return 0., max(0., duration - d)
    ss1 = _uniform(rng, 0., max(duration / 2 - d, 0.))
    return ss1, ss1 + duration / 2


def sample_far_apart(rng: np.random.Generator, video_seconds: float, audio_seconds: float,
                     video_duration: float, audio_duration: float
                     ) -> tuple[tuple[float, float], tuple[float, float]]:
    """((v1, v2), (a1, a2)): the official `_sample_snippet2` for streams starting at 0.

    Both streams at least twice their window: h = min(T_a/2 - d_a, T_v/2 - d_v), ss1 ~ U(0, h),
    ss2 = ss1 + h, shared by audio and video. Otherwise each modality on its own (video drawn
    first): shorter than d -> (0, 0); shorter than 2d -> (0, T - d); else ss1 ~ U(0, T/2 - d),
    ss2 = ss1 + T/2.
    """
    _check_positive(video_seconds=video_seconds, audio_seconds=audio_seconds)
    d_v, d_a, T_v, T_a = video_seconds, audio_seconds, float(video_duration), float(audio_duration)
    if d_v > T_v / 2 or d_a > T_a / 2:
        v = _far_pair(rng, d_v, T_v)
        a = _far_pair(rng, d_a, T_a)
        return v, a
    max_ss = min(T_a / 2 - d_a, max(T_v / 2 - d_v, 0.))
    ss1 = _uniform(rng, 0., max_ss)
    pair = (ss1, ss1 + max_ss)
    return pair, pair


def sample_views(rng: np.random.Generator, scheme: str, video_seconds: float, audio_seconds: float,
                 video_duration: float, audio_duration: float) -> ViewStarts:
    """The two views' start times for `scheme` (see the module table); streams start at 0.

    video_seconds / audio_seconds: one view's window (d_v, d_a); video_duration / audio_duration:
    the stream lengths (T_v, T_a). Deterministic given the rng state.
    """
    _check_scheme(scheme)
    _check_positive(video_seconds=video_seconds, audio_seconds=audio_seconds)
    d_v, d_a = float(video_seconds), float(audio_seconds)
    if scheme in ("same_timestamp", "overlapped", "adjacent"):
        D_v, D_a = effective_durations(scheme, d_v, d_a)
        a_ss, v_ss = sample_snippet(rng, D_v, D_a, video_duration, audio_duration)
        # The second view is the last d of the drawn window (frames[-n:], wav[-n:]).
        return ViewStarts(video=(v_ss, v_ss + (D_v - d_v)), audio=(a_ss, a_ss + (D_a - d_a)))
    if scheme == "random":
        a1, v1 = sample_snippet(rng, d_v, d_a, video_duration, audio_duration)
        a2, v2 = sample_snippet(rng, d_v, d_a, video_duration, audio_duration)
        return ViewStarts(video=(v1, v2), audio=(a1, a2))
    v, a = sample_far_apart(rng, d_v, d_a, video_duration, audio_duration)
    if scheme == "far_apart":
        return ViewStarts(video=v, audio=a)
    first = bool(rng.random() < 0.5)  # which of the two far-apart draws the repeated modality keeps
    if scheme == "v_far_a_same":
        a_ss = a[0] if first else a[1]
        return ViewStarts(video=v, audio=(a_ss, a_ss))
    v_ss = v[0] if first else v[1]  # v_same_a_far
    return ViewStarts(video=(v_ss, v_ss), audio=a)
