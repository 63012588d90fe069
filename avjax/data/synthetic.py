"""The synthetic audio-visual world: labelled clips generated on the fly, deterministic by index.

It stands in for a real dataset in the demo and the tests. Each clip shows one SOUNDING object
among 0 to `max_distractors` silent distractors on a textured background, and plays that object's
sound (16 kHz). The object bounces while its note sounds and rests between notes, so the two
streams share one event timeline; the per-clip generator is `np.random.default_rng([seed,
split_id, index])`, and every frame and sample is a pure function of (clip, time).

Classes (10): each has its own colour, which the sound mirrors in its pitch register (red lowest,
around A2 = 110 Hz, each next colour 5 semitones higher, pink around F#6 = 1480 Hz), and a shape
(the colour index mod 5), which sets the timbre and its modulation. Colour and register are what
a cross-modal model picks up first (they are the most salient shared factor), so here they tell
the class; shape and timbre confirm it:

| label | class                      | sound                                                        |
|-------|----------------------------|--------------------------------------------------------------|
| 0 / 5 | red circle / teal circle   | flute: sine + weak 2nd, 3rd harmonics; vibrato 5 Hz, 0.35 st |
| 1 / 6 | orange / azure square      | clarinet: odd harmonics 1/h (h <= 7); steady                 |
| 2 / 7 | yellow / indigo triangle   | soft: odd harmonics 1/h^2; tremolo (AM) 7 Hz, depth 0.6      |
| 3 / 8 | lime / violet diamond      | bell: inharmonic partials 1, 2.76, 5.4; struck, decay 0.25 s |
| 4 / 9 | green / pink cross         | buzzy: sawtooth (harmonics 1/h, h <= 6); growl (AM) 13 Hz    |

Per instance, shared across the two modalities (so instance-level audio <-> video retrieval is
learnable, not just the class):
- rhythm: a tempo (0.2 to 1.3 s between onsets), a cycle of 1-3 inter-onset ratios and a duty
  cycle (notes of 0.1 s or more); every note is one bounce (same onset and offset in both streams);
- melody <-> jump height: each note is a scale step (0, 2 or 4 semitones), and the jump is
  higher for a higher note;
- size <-> loudness: radius 0.11..0.18 of the frame maps to -20..-4 dB;
- shade <-> pitch: a pitch offset of -1.5..+1.5 semitones maps to a dark..light shade of the colour;
- position: independent of the sound.
Nuisances: a background gradient between two colours of a palette that holds both object colours
(desaturated), plane-wave and blotch textures, grain, per-frame pixel noise; distractors of other
classes that drift slowly and bounce off the borders; pink or white noise in the audio at a random
SNR (6..24 dB). The mean colour of a frame does not tell the class (see tests/test_synthetic.py).

Shapes: `video(i, start, T, fps)` -> uint8 [T, size, size, 3]; `audio(i, start, S)` -> float32 [S];
`boxes(i, times[N])` -> float32 [N, 4]; `meta(i)["events"]` -> float32 [E, 2].
Speed (64x64, 16 kHz, one core of a busy 2-core CPU; `python -m avjax.data.synthetic` measures
it), best..median: a clip read before (its parameters and background cached): 1 frame 0.08..0.13 ms,
12 frames 0.2..0.35 ms, 3 s of audio 0.2..0.4 ms; a new clip adds ~0.1..0.2 ms (parameters, ~0.08
ms, and its background). Nothing loops over pixels or samples; only the requested frames and
samples are rendered.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

SHAPES = ("circle", "square", "triangle", "diamond", "cross")
COLOURS = ("red", "orange", "yellow", "lime", "green", "teal", "azure", "indigo", "violet", "pink")
NUM_CLASSES = len(COLOURS)  # label = colour index; shape = SHAPES[label % 5]
CLASS_NAMES: tuple[str, ...] = tuple(f"{c} {SHAPES[k % len(SHAPES)]}" for k, c in enumerate(COLOURS))
SPLITS = ("train", "eval", "test")


def _hsv_rgb(hue_deg: float, sat: float, val: float) -> list[float]:
    """HSV -> RGB 0..255."""
    k = (np.array([5.0, 3.0, 1.0]) + hue_deg / 60.0) % 6
    return list(255.0 * val * (1 - sat * np.clip(np.minimum(k, 4 - k), 0, 1)))


# Object colours: (darkest, lightest) shade per class, hues 36 degrees apart; the shade follows
# the pitch offset.
_OBJECT_RGB = np.array([[_hsv_rgb(36.0 * k, 0.95, 0.6), _hsv_rgb(36.0 * k, 0.6, 1.0)]
                        for k in range(len(COLOURS))], np.float32)
# Background palette: desaturated hues around the wheel, so a frame's mean colour does not give the class.
_PALETTE = np.array([[220, 40, 40], [40, 70, 220], [40, 170, 60], [230, 210, 50], [240, 140, 30],
                     [140, 60, 190], [50, 200, 210], [230, 90, 170], [130, 85, 40], [128, 128, 128],
                     [235, 235, 235], [40, 40, 45]], np.float32)
_REGISTER_HZ = 110.0 * 2.0 ** (5 * np.arange(len(COLOURS)) / 12)  # A2 (red) .. F#6 (pink)
_SCALE = np.array([0, 2, 4])               # melody steps, semitones: a register spans 7 with the offset
_PITCH_SPAN = 1.5                          # per-instance pitch offset: -1.5..+1.5 semitones
_RADIUS = (0.11, 0.18)                     # sounding object's radius, fraction of the frame
_DISTRACTOR_RADIUS = (0.09, 0.16)          # big enough that shapes read at 32-40 px crops
_GAIN_DB = (-20.0, -4.0)                   # loudness for the smallest .. largest object
_JUMP = (0.06, 0.18)                       # jump height for the lowest .. highest scale step
_PULSE = 0.15                              # the object also grows by 15 % at the top of a jump
_ATTACK, _RELEASE = 0.01, 0.03             # note envelope, seconds
# Half-extents (left, top, right, bottom) of each shape in units of its radius (its box).
_EXTENT = {"circle": (1.0, 1.0, 1.0, 1.0), "square": (0.85, 0.85, 0.85, 0.85),
           "triangle": (1.4 * math.sqrt(3) / 2, 1.4, 1.4 * math.sqrt(3) / 2, 0.7),
           "diamond": (1.2, 1.2, 1.2, 1.2), "cross": (1.05, 1.05, 1.05, 1.05)}
_MAX_EXTENT = 1.4
_NUMBERS = ("zero times", "once", "twice", "three times", "four times", "five times", "six times",
            "seven times", "eight times", "nine times", "ten times", "eleven times", "twelve times")

_TABLE_BITS = 12
_TABLE_N = 1 << _TABLE_BITS
_TABLE_MASK = _TABLE_N - 1


def _wavetable(harmonics: dict[float, float]) -> np.ndarray:
    """One period, float32 [_TABLE_N], rms 0.5."""
    x = np.arange(_TABLE_N) / _TABLE_N
    w = sum(a * np.sin(2 * np.pi * h * x) for h, a in harmonics.items())
    return (0.5 * w / np.sqrt(np.mean(w ** 2))).astype(np.float32)


_SIN = np.sin(2 * np.pi * np.arange(_TABLE_N) / _TABLE_N).astype(np.float32)  # unit amplitude
# Timbre per shape: (wavetable or None for the bell, vibrato (rate Hz, depth semitones),
# amplitude modulation (rate Hz, depth), decay time constant in s or None).
_TIMBRE = {
    "circle": (_wavetable({1: 1.0, 2: 0.12, 3: 0.05}), (5.0, 0.35), None, None),
    "square": (_wavetable({h: 1.0 / h for h in (1, 3, 5, 7)}), None, None, None),
    "triangle": (_wavetable({h: (-1) ** (h // 2) / h ** 2 for h in (1, 3, 5, 7)}), None, (7.0, 0.6),
                 None),
    "diamond": (None, None, None, 0.25),
    "cross": (_wavetable({h: 1.0 / h for h in range(1, 7)}), None, (13.0, 0.5), None),
}
_BELL = ((1.0, 1.0), (2.76, 0.5), (5.40, 0.25))
_BELL_NORM = 0.5 / math.sqrt(sum(a * a for _, a in _BELL) / 2)  # to rms 0.5, like the tables


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """num_clips per split; `split` enters the rng, so the three splits are disjoint clips."""
    num_clips: int = 1000
    seed: int = 0
    split: str = "train"          # "train" | "eval" | "test"
    duration: float = 4.0         # seconds of every clip
    fps: float = 16.0             # native frame rate
    size: int = 64                # rendered frame is size x size
    sample_rate: int = 16000
    max_distractors: int = 2


# ---------------------------------------------------------------------------------------------
# Fixed noise sources, shared by all clips; each clip reads them at its own offsets.
# ---------------------------------------------------------------------------------------------

_AUDIO_NOISE_LEN = 1 << 20          # 65 s at 16 kHz: clips rarely share a stretch of noise


@functools.cache
def _audio_noise() -> tuple[np.ndarray, np.ndarray]:
    """(white, pink): float32 [2^20] each, rms 1 (the pink one by 1/sqrt(f) shaping)."""
    white = np.random.default_rng(20240601).standard_normal(_AUDIO_NOISE_LEN)
    spec = np.fft.rfft(white)
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = np.inf
    pink = np.fft.irfft(spec / np.sqrt(f), n=_AUDIO_NOISE_LEN)
    return ((white / white.std()).astype(np.float32), (pink / pink.std()).astype(np.float32))


@functools.cache
def _image_noise(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(grain, blotches): float32 [L, L] each, std 1, L = max(256, 4 * size)."""
    n = max(256, 4 * size)
    grain = np.random.default_rng(20240602).standard_normal((n, n))
    k = np.fft.fftfreq(n)
    lowpass = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 0.02 ** 2))
    blotch = np.fft.ifft2(np.fft.fft2(grain) * lowpass).real
    return ((grain / grain.std()).astype(np.float32), (blotch / blotch.std()).astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Per-clip parameters.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Object:
    label: int
    shade: float                  # 0 (dark) .. 1 (light)
    radius: float                 # fraction of the frame
    x: float                      # rest (sounding) or start (distractor) centre, fraction of frame
    y: float
    vx: float = 0.0               # drift, frame fractions per second (distractors only)
    vy: float = 0.0

    def __post_init__(self):
        self.shape = SHAPES[self.label % len(SHAPES)]
        self.colour = COLOURS[self.label]
        dark, light = _OBJECT_RGB[self.label]
        self.rgb = dark + np.float32(self.shade) * (light - dark)  # float32 [3]


@dataclasses.dataclass
class _Clip:
    source: _Object
    distractors: list
    onsets: np.ndarray            # float64 [E]
    offsets: np.ndarray           # float64 [E]
    steps: np.ndarray             # int [E], melody steps in semitones
    pitch_offset: float           # semitones
    gain: float
    snr_db: float
    pink: bool
    noise_offset: int
    bg_colours: np.ndarray        # float32 [2, 3]
    bg_angle: float
    waves: np.ndarray             # float32 [4, K]: (kx, ky) cycles per frame, phase, amplitude
    texture: tuple                # (blotch amp, grain amp, oy, ox)
    frame_noise: float            # per-frame pixel noise std
    noise_seed: int

    def __post_init__(self):
        base = float(_REGISTER_HZ[self.source.label])
        self.freqs = base * 2.0 ** ((self.pitch_offset + self.steps) / 12.0)         # Hz [E]
        self.jumps = _JUMP[0] + (_JUMP[1] - _JUMP[0]) * self.steps / _SCALE[-1]     # [E]


def _tempo(p: _Clip) -> float:
    """Mean seconds between onsets."""
    return float(np.mean(np.diff(p.onsets))) if len(p.onsets) > 1 else 1.0


def _lerp(u: float, lo: float, hi: float) -> float:
    return lo + (hi - lo) * u


def _make_clip(rng: np.random.Generator, config: WorldConfig) -> _Clip:
    """All of a clip's parameters, from a few block draws of `rng` (< 0.1 ms)."""
    u = rng.random(25).tolist()
    label = min(int(u[0] * NUM_CLASSES), NUM_CLASSES - 1)
    shade, u_size = u[1], u[2]
    radius = _lerp(u_size, *_RADIUS)
    margin = _MAX_EXTENT * radius * (1 + _PULSE) + 0.02
    x, y = _lerp(u[3], margin, 1 - margin), _lerp(u[4], _JUMP[1] + margin, 1 - margin)
    source = _Object(label, shade, radius, x, y)

    # Rhythm: a tempo, a cycle of 1-3 inter-onset ratios with a little jitter, a duty cycle.
    n_max = int(math.ceil(config.duration / 0.19)) + 2
    e = rng.random((3, n_max))
    ioi0, duty = _lerp(u[5], 0.35, 0.8), _lerp(u[6], 0.35, 0.65)
    pattern = np.array([0.6, 1.0, 1.0, 1.5])[(e[0, :1 + int(u[7] * 3)] * 4).astype(int)]
    iois = ioi0 * pattern[np.arange(n_max) % len(pattern)] * (0.92 + 0.16 * e[1])
    onsets = _lerp(u[8], 0.05, 0.6) + np.concatenate([[0.0], np.cumsum(iois[:-1])])
    lengths = np.minimum(np.maximum(duty * iois, 0.1), iois - 0.07)
    steps = _SCALE[(e[2] * len(_SCALE)).astype(int)]
    keep = onsets < config.duration - 0.1
    onsets, steps = onsets[keep], steps[keep]
    offsets = np.minimum(onsets + lengths[keep], config.duration)

    distractors = []
    n_distractors = min(int(u[9] * (config.max_distractors + 1)), config.max_distractors)
    for d in rng.random((n_distractors, 21)).tolist():
        d_label = min(int(d[0] * (NUM_CLASSES - 1)), NUM_CLASSES - 2)
        d_label += d_label >= label                       # any class but the sounding one
        r = _lerp(d[1], *_DISTRACTOR_RADIUS)
        m = _MAX_EXTENT * r + 0.01
        cand = [(_lerp(d[5 + 2 * j], m, 1 - m), _lerp(d[6 + 2 * j], m, 1 - m)) for j in range(8)]
        far = [c for c in cand if math.hypot(c[0] - x, c[1] - y) > 1.3 * (r + radius) + 0.03]
        dx, dy = (far or cand)[0]                         # keep off the sounding object at rest
        speed, angle = _lerp(d[3], 0.02, 0.07), 2 * math.pi * d[4]
        distractors.append(_Object(d_label, d[2], r, dx, dy, speed * math.cos(angle),
                                   speed * math.sin(angle)))

    c0 = min(int(u[10] * len(_PALETTE)), len(_PALETTE) - 1)
    c1 = (c0 + 1 + min(int(u[11] * (len(_PALETTE) - 1)), len(_PALETTE) - 2)) % len(_PALETTE)
    grey = np.array([[_lerp(u[12], 0.45, 0.75)], [_lerp(u[13], 0.45, 0.75)]], np.float32)
    bright = np.array([[_lerp(u[14], 0.7, 1.1)], [_lerp(u[15], 0.7, 1.1)]], np.float32)
    bg_colours = bright * ((1 - grey) * _PALETTE[[c0, c1]] + grey * 128.0)
    w = rng.random((4, 3)).astype(np.float32)  # 3 plane waves: frequency, orientation, phase, amp
    freq, orient = 1.0 + 4.0 * w[0], np.pi * w[1]
    waves = np.array([freq * np.cos(orient), freq * np.sin(orient), 2 * np.pi * w[2],
                      3.0 + 9.0 * w[3]], np.float32)
    tile = max(256, 4 * config.size) - config.size
    texture = (_lerp(u[16], 4.0, 16.0), _lerp(u[17], 2.0, 7.0), int(u[18] * tile), int(u[19] * tile))
    return _Clip(
        source=source, distractors=distractors, onsets=onsets, offsets=offsets, steps=steps,
        pitch_offset=_PITCH_SPAN * (2 * shade - 1),
        gain=10.0 ** (_lerp(u_size, *_GAIN_DB) / 20.0), snr_db=_lerp(u[20], 6.0, 24.0),
        pink=u[21] < 0.5, noise_offset=int(u[22] * _AUDIO_NOISE_LEN), bg_colours=bg_colours,
        bg_angle=2 * math.pi * u[23], waves=waves, texture=texture,
        frame_noise=_lerp(u[24], 2.0, 9.0), noise_seed=int(rng.integers(2 ** 62)))


# ---------------------------------------------------------------------------------------------
# Rendering.
# ---------------------------------------------------------------------------------------------

def _sdf(shape: str, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) to `shape` of radius r; any unit; y points down."""
    if shape == "circle":
        return np.sqrt(dx * dx + dy * dy) - r
    ax, ay = np.abs(dx), np.abs(dy)
    if shape == "square":
        return np.maximum(ax, ay) - 0.85 * r
    if shape == "diamond":
        return (ax + ay - 1.2 * r) * np.float32(1 / math.sqrt(2))
    if shape == "triangle":  # pointing up, circumradius 1.4 r, centred on its centroid
        return np.maximum(dy, ax * np.float32(math.sqrt(3) / 2) - 0.5 * dy) - 0.7 * r
    arm, half_w = 1.05 * r, 0.4 * r  # cross
    return np.minimum(np.maximum(ax - arm, ay - half_w), np.maximum(ax - half_w, ay - arm))


@functools.cache
def _pixel_centres(size: int) -> np.ndarray:
    return np.arange(size, dtype=np.float32) + np.float32(0.5)


def _paint(frames: np.ndarray, shape: str, rgb: np.ndarray, cx: np.ndarray, cy: np.ndarray,
           r: np.ndarray) -> None:
    """Composites one anti-aliased object into frames (float32 [T, 3, S, S]) in place.

    cx, cy, r: float64 [T] in frame fractions. Only the union box of the object over T is touched.
    """
    size = frames.shape[-1]
    reach = _MAX_EXTENT * float(r.max())
    x0 = max(math.floor((float(cx.min()) - reach) * size) - 1, 0)
    x1 = min(math.ceil((float(cx.max()) + reach) * size) + 1, size)
    y0 = max(math.floor((float(cy.min()) - reach) * size) - 1, 0)
    y1 = min(math.ceil((float(cy.max()) + reach) * size) + 1, size)
    if x1 <= x0 or y1 <= y0:
        return
    grid = _pixel_centres(size)
    px = (np.array([cx, cy, r]) * size).astype(np.float32)  # in pixels
    dx = grid[None, None, x0:x1] - px[0, :, None, None]
    dy = grid[None, y0:y1, None] - px[1, :, None, None]
    alpha = 0.5 - _sdf(shape, dx, dy, px[2, :, None, None])
    np.minimum(np.maximum(alpha, 0.0, out=alpha), 1.0, out=alpha)
    region = frames[:, :, y0:y1, x0:x1]
    region += alpha[:, None] * (rgb[:, None, None] - region)


_M64 = (1 << 64) - 1


def _splitmix(x: int) -> int:
    """splitmix64 finaliser on a Python int."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _reflect(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Positions bouncing between lo and hi (mirror boundaries)."""
    span = hi - lo
    u = np.mod(p - lo, 2 * span)
    return lo + span - np.abs(u - span)


class SyntheticWorld:
    """`config.num_clips` clips, each a pure function of (config.seed, config.split, index).

    Per-clip parameters are cached (a bounded dict, not pickled), so reading a clip's video then
    its audio draws them once.
    """

    _CACHE_SIZE = 2048
    _BG_CACHE_SIZE = 8

    def __init__(self, config: WorldConfig):
        if config.split not in SPLITS:
            raise ValueError(f"WorldConfig.split={config.split!r}: use one of {SPLITS}")
        for name in ("num_clips", "duration", "fps", "size", "sample_rate"):
            if not getattr(config, name) > 0:
                raise ValueError(f"WorldConfig.{name}={getattr(config, name)!r}: must be > 0")
        if config.size < 8:
            raise ValueError(f"WorldConfig.size={config.size}: frames must be at least 8x8")
        if config.max_distractors < 0:
            raise ValueError(f"WorldConfig.max_distractors={config.max_distractors}: must be >= 0")
        self.config = config
        self._split_id = SPLITS.index(config.split)
        self._num_frames = max(int(round(config.duration * config.fps)), 1)
        self._num_samples = int(round(config.duration * config.sample_rate))
        self._last_frame_time = (self._num_frames - 1) / config.fps
        self._cache: dict[int, _Clip] = {}
        self._bg_cache: dict[int, np.ndarray] = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"], state["_bg_cache"] = {}, {}
        return state

    def __len__(self) -> int:
        return self.config.num_clips

    def _clip_params(self, i: int) -> _Clip:
        p = self._cache.get(i)
        if p is None:
            if not 0 <= i < self.config.num_clips:
                raise IndexError(f"clip {i} is out of range: the world has {self.config.num_clips}")
            p = _make_clip(np.random.default_rng([self.config.seed, self._split_id, i]), self.config)
            if len(self._cache) >= self._CACHE_SIZE:
                self._cache.clear()
            self._cache[i] = p
        return p

    # -- labels and metadata ------------------------------------------------------------------

    def label(self, i: int) -> int:
        return self._clip_params(int(i)).source.label

    def meta(self, i: int) -> dict:
        """label, class_name, caption, events float32 [E, 2] (on, off seconds) and instance params.

        Also: shape, colour, pitches_hz float32 [E], jump_heights float32 [E], size (radius,
        fraction of the frame), gain, shade (0 dark .. 1 light), pitch_offset (semitones), rgb,
        position (rest centre x, y), tempo (mean seconds between onsets), snr_db, noise ("pink" |
        "white"), distractors (list of dicts: label, class_name, size, rgb).
        """
        p = self._clip_params(int(i))
        s = p.source
        return {
            "label": s.label, "class_name": CLASS_NAMES[s.label], "shape": s.shape,
            "colour": s.colour, "caption": self._caption(p),
            "events": np.stack([p.onsets, p.offsets], axis=1).astype(np.float32).reshape(-1, 2),
            "pitches_hz": p.freqs.astype(np.float32), "jump_heights": p.jumps.astype(np.float32),
            "size": s.radius, "gain": p.gain, "shade": s.shade, "pitch_offset": p.pitch_offset,
            "rgb": tuple(int(round(c)) for c in s.rgb), "position": (s.x, s.y),
            "tempo": _tempo(p), "snr_db": p.snr_db, "noise": "pink" if p.pink else "white",
            "distractors": [{"label": d.label, "class_name": CLASS_NAMES[d.label], "size": d.radius,
                             "rgb": tuple(int(round(c)) for c in d.rgb)} for d in p.distractors],
        }

    @staticmethod
    def _caption(p: _Clip) -> str:
        s = p.source
        frac = (s.radius - _RADIUS[0]) / (_RADIUS[1] - _RADIUS[0])
        words = ["small" if frac < 1 / 3 else "large" if frac > 2 / 3 else "medium"]
        if s.shade < 1 / 3 or s.shade > 2 / 3:
            words.append("dark" if s.shade < 1 / 3 else "light")
        n = len(p.onsets)
        times = _NUMBERS[n] if n < len(_NUMBERS) else f"{n} times"
        tempo = _tempo(p)
        pace = " quickly" if tempo < 0.35 else " slowly" if tempo > 0.7 else ""
        where = "on the left" if s.x < 0.4 else "on the right" if s.x > 0.6 else "in the middle"
        text = f"a {' '.join(words)} {CLASS_NAMES[s.label]} bounces {times}{pace} {where}"
        names = [CLASS_NAMES[d.label] for d in p.distractors]
        if names:
            groups = [f"a {n}" if names.count(n) == 1 else
                      f"two {n}{'es' if n.endswith('s') else 's'}" for n in dict.fromkeys(names)]
            text += ", next to " + " and ".join(groups)
        return text

    # -- geometry -----------------------------------------------------------------------------

    def _frame_times(self, times) -> np.ndarray:
        """Times on a 1 us grid (so equal times from different windows render equal pixels),
        clamped to [0, last frame time] like a decoder."""
        t = np.round(np.asarray(times, np.float64) * 1e6) / 1e6
        return np.clip(t, 0.0, self._last_frame_time)

    @staticmethod
    def _source_motion(p: _Clip, t: np.ndarray):
        """(cx, cy, radius) of the sounding object at times t: a bounce during each note."""
        s = p.source
        cx, cy = np.full(t.shape, s.x), np.full(t.shape, s.y)
        if not len(p.onsets):
            return cx, cy, np.full(t.shape, s.radius)
        k = np.searchsorted(p.onsets, t, side="right") - 1
        kk = np.maximum(k, 0)
        on, off = p.onsets[kk], p.offsets[kk]
        active = (k >= 0) & (t < off)
        bump = np.where(active, np.sin(np.pi * np.clip((t - on) / (off - on), 0, 1)), 0.0)
        return cx, cy - p.jumps[kk] * bump, s.radius * (1 + _PULSE * bump)

    @staticmethod
    def _drift(d: _Object, t: np.ndarray):
        m = _MAX_EXTENT * d.radius
        return _reflect(d.x + d.vx * t, m, 1 - m), _reflect(d.y + d.vy * t, m, 1 - m)

    def boxes(self, i: int, times) -> np.ndarray:
        """float32 [N, 4] (x0, y0, x1, y1) in [0, 1]: the sounding object's box at times [N]
        (clamped to the clip like `video`)."""
        p = self._clip_params(int(i))
        cx, cy, r = self._source_motion(p, self._frame_times(np.atleast_1d(times)))
        ex = _EXTENT[p.source.shape]
        box = np.stack([cx - ex[0] * r, cy - ex[1] * r, cx + ex[2] * r, cy + ex[3] * r], axis=1)
        return np.clip(box, 0.0, 1.0).astype(np.float32)

    # -- video --------------------------------------------------------------------------------

    def _background(self, i: int, p: _Clip) -> np.ndarray:
        """float32 [3, S, S]: gradient + plane waves + blotches + grain (static per clip; the last
        few are cached, so the second view of a clip costs nothing here)."""
        bg = self._bg_cache.get(i)
        if bg is not None:
            return bg
        n = self.config.size
        g = _pixel_centres(n) / np.float32(n) - np.float32(0.5)        # [S], -0.5..0.5
        # Gradient c0 -> c1 along bg_angle, as a row term plus a column term, per channel.
        c0, c1 = p.bg_colours
        step = (c1 - c0) * np.float32(1 / math.sqrt(2))
        row = (0.5 * (c0 + c1))[:, None] + (step * math.cos(p.bg_angle))[:, None] * g[None]
        col = (step * math.sin(p.bg_angle))[:, None] * g[None]
        bg = row[:, None, :] + col[:, :, None]                            # [3, S, S]
        # Texture: sum_k amp cos(2 pi (kx x + ky y) + phase), as one rank-2K product, + tiles.
        kx, ky, phase, amp = p.waves
        ax, ay = 2 * np.pi * g[:, None] * kx + phase, 2 * np.pi * g[:, None] * ky
        lum = np.concatenate([np.cos(ay), np.sin(ay)], 1) @ np.concatenate(
            [amp * np.cos(ax), -amp * np.sin(ax)], 1).T
        grain, blotch = _image_noise(n)
        b_amp, g_amp, oy, ox = p.texture
        lum += np.float32(b_amp) * blotch[oy:oy + n, ox:ox + n]
        lum += np.float32(g_amp) * grain[ox:ox + n, oy:oy + n]
        bg += lum[None]
        if len(self._bg_cache) >= self._BG_CACHE_SIZE:
            self._bg_cache.clear()  # (clear and set are atomic: safe with Grain's reader threads)
        self._bg_cache[i] = bg
        return bg

    def video(self, i: int, start: float, num_frames: int, fps: float) -> np.ndarray:
        """uint8 [num_frames, size, size, 3]: frame k shows time start + k / fps.

        Times before 0 or past the last frame clamp to the first / last frame (like a decoder).
        """
        p = self._clip_params(int(i))
        n = self.config.size
        if not fps > 0:
            raise ValueError(f"video fps={fps!r}: must be > 0")
        if num_frames <= 0:
            return np.zeros((0, n, n, 3), np.uint8)
        t = self._frame_times(start + np.arange(num_frames) / fps)
        # Pixel noise: a window of a fixed grain tile at an offset hashed from (clip, frame time).
        grain, _ = _image_noise(n)
        span = grain.shape[0] - n
        noise = []
        for t_us in np.round(t * 1e6).astype(np.int64).tolist():
            h = _splitmix(p.noise_seed ^ _splitmix(t_us))
            oy, ox = h % span, (h >> 32) % span
            noise.append(grain[oy:oy + n, ox:ox + n])
        noise = np.stack(noise)
        noise *= np.float32(p.frame_noise)
        frames = self._background(int(i), p) + noise[:, None]  # [T, 3, S, S]
        for d in p.distractors:  # silent, drifting
            cx, cy = self._drift(d, t)
            _paint(frames, d.shape, d.rgb, cx, cy, np.full(t.shape, d.radius))
        _paint(frames, p.source.shape, p.source.rgb, *self._source_motion(p, t))
        np.clip(frames, 0, 255, out=frames)
        return frames.transpose(0, 2, 3, 1).astype(np.uint8)

    # -- audio --------------------------------------------------------------------------------

    def audio(self, i: int, start: float, num_samples: int) -> np.ndarray:
        """float32 [num_samples] in [-1, 1]: sample k is at time start + k / sample_rate (rounded to
        the sample grid); zero before 0 and past the clip end."""
        p = self._clip_params(int(i))
        sr = self.config.sample_rate
        out = np.zeros(num_samples, np.float32)
        n0 = int(round(start * sr))
        lo, hi = max(0, -n0), min(num_samples, self._num_samples - n0)  # valid part of `out`
        if hi <= lo:
            return out
        # Background noise, read from a fixed buffer at the clip's offset (a pure function of time).
        buf = _audio_noise()[1 if p.pink else 0]
        a = (p.noise_offset + n0 + lo) % _AUDIO_NOISE_LEN
        m = hi - lo
        noise = buf[a:a + m]
        if noise.size < m:
            noise = np.concatenate([noise, buf[:m - noise.size]])
        out[lo:hi] = (p.gain * 0.5 * 10.0 ** (-p.snr_db / 20.0)) * noise
        # Notes that sound in [n0 + lo, n0 + hi).
        t_lo, t_hi = (n0 + lo) / sr, (n0 + hi) / sr
        first = int(np.searchsorted(p.offsets, t_lo - _RELEASE, side="left"))
        last = int(np.searchsorted(p.onsets, t_hi, side="left"))
        shape = p.source.shape
        table, vibrato, am, decay = _TIMBRE[shape]
        freqs = p.freqs
        for k in range(first, last):
            on, off = p.onsets[k], p.offsets[k]
            s_a = max(int(math.ceil(on * sr)), n0 + lo)
            s_b = min(int(math.ceil((off + _RELEASE) * sr)), n0 + hi)
            if s_b <= s_a:
                continue
            tau = np.arange(s_a, s_b, dtype=np.float64) / sr - on
            out[s_a - n0:s_b - n0] += self._note(tau, off - on, freqs[k], p.gain, table, vibrato,
                                                 am, decay)
        np.clip(out, -1.0, 1.0, out=out)
        return out

    @staticmethod
    def _note(tau, length, f, gain, table, vibrato, am, decay) -> np.ndarray:
        """float32 [len(tau)]: one note at times tau (s after its onset)."""
        cycles = f * tau
        if vibrato is not None:  # f(t) = f (1 + b sin(2 pi r t)), integrated
            rate, depth = vibrato
            b = 2.0 ** (depth / 12.0) - 1.0
            cos = _SIN[((rate * tau + 0.25) * _TABLE_N).astype(np.int64) & _TABLE_MASK]
            cycles += f * b / (2 * np.pi * rate) * (1.0 - cos)
        if table is None:  # bell: inharmonic partials
            wave = sum(a * _SIN[((ratio * cycles) * _TABLE_N).astype(np.int64) & _TABLE_MASK]
                       for ratio, a in _BELL) * np.float32(_BELL_NORM)
        else:
            wave = table[(cycles * _TABLE_N).astype(np.int64) & _TABLE_MASK]
        env = np.minimum(tau * (1.0 / _ATTACK), 1.0)
        env = np.minimum(env, (length + _RELEASE - tau) * (1.0 / _RELEASE))
        np.clip(env, 0.0, 1.0, out=env)
        if decay is not None:
            env *= np.exp(-tau / decay)
        if am is not None:
            rate, depth = am
            mod = _SIN[(rate * tau * _TABLE_N).astype(np.int64) & _TABLE_MASK]
            env *= 1.0 - (0.5 * depth) * (1.0 + mod)
        return (gain * env).astype(np.float32) * wave

    # -- the whole clip -----------------------------------------------------------------------

    def clip(self, i: int) -> dict:
        """The whole clip at the native rates: video uint8 [F, S, S, 3] (F = duration * fps),
        audio float32 [duration * sample_rate], label, boxes float32 [F, 4], events float32 [E, 2],
        caption."""
        i = int(i)
        meta = self.meta(i)
        times = np.arange(self._num_frames) / self.config.fps
        return {"video": self.video(i, 0.0, self._num_frames, self.config.fps),
                "audio": self.audio(i, 0.0, self._num_samples), "label": meta["label"],
                "boxes": self.boxes(i, times), "events": meta["events"], "caption": meta["caption"]}


def _benchmark(repeats: int = 300) -> dict:
    """Milliseconds (median, best) on this machine, 64x64 frames at 16 fps, 16 kHz audio. `cold`:
    the call draws a new clip's parameters and background; `warm`: the clip was read just before
    (as for a clip's second view)."""
    import time

    world = SyntheticWorld(WorldConfig(num_clips=1 << 30))
    world.video(0, 0.0, 1, 16.0), world.audio(0, 0.0, 10)  # build the shared noise tables once

    def timed(fn, cold):
        out = []
        for j in range(repeats):
            i = 10 * j + 1
            if cold:
                world._cache.clear(), world._bg_cache.clear()
            else:
                fn(i)
            t0 = time.perf_counter()
            fn(i)
            out.append(time.perf_counter() - t0)
        return 1e3 * float(np.median(out)), 1e3 * float(np.min(out))

    cases = {"clip parameters": lambda i: world._clip_params(i),
             "1 frame": lambda i: world.video(i, 1.0, 1, 16.0),
             "12 frames": lambda i: world.video(i, 0.5, 12, 16.0),
             "3 s audio": lambda i: world.audio(i, 0.5, 48000)}
    return {name: timed(fn, True) + timed(fn, False) for name, fn in cases.items()}


if __name__ == "__main__":
    print(f"{'ms':>16} {'cold median':>12} {'cold best':>10} {'warm median':>12} {'warm best':>10}")
    for name, (c_med, c_min, w_med, w_min) in _benchmark().items():
        print(f"{name:>16} {c_med:12.3f} {c_min:10.3f} {w_med:12.3f} {w_min:10.3f}")
