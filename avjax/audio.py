"""On-device audio front end: waveform -> log-mel, and the CrissCross audio augmentations.

Everything here is pure JAX, jit-able and batch-first; randomness comes from an explicit
`jax.random` key and every example draws its own parameters (one batched draw of shape
[B, ...] per augmentation, mapped per example with vmap).
The filterbank is the only NumPy part: it is computed once (librosa, Slaney) and baked into the
graph as a constant.

Faithful to the CrissCross reference (`train/datasets/audiotransforms/{to_spec,spec_aug,wav_aug}.py`
and `augmentations/audio_augmentations.py::StrongAug`, librosa 0.8.1, torch 1.7.1):

    wave (2 s, 16 kHz, host-side crop/zero-pad)
      -> volume jitter x U(1 - vol, 1 + vol)
      -> |STFT|^2 (n_fft 1024, hop 160, periodic Hann, center=True, reflect pad) + float64 eps
      -> Slaney mel (80 bins, fmin 0, fmax sr/2) -> log(mel + float32 eps) -> (x + 5.3688107) / 4.410007
      -> [time warp, off in pretraining] -> 2 freq masks -> 2 time masks (filled with the mean)
      -> BYOL-A random resize crop (bicubic, align_corners=True)

Shapes: `wave: [B, S] float32`, `spec: [B, n_mels, frames] float32` with
`frames = 1 + S // hop_length` (2 s -> 201).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

# Constants of the reference code.
POWER_EPS = float(np.finfo(np.float64).eps)     # `np.abs(X)**2 + np.finfo(float).eps` (to_spec.py)
LOG_EPS = float(np.finfo(np.float32).eps)       # `(mel + torch.finfo().eps).log()`: 1.1920929e-07
LOGMEL_MEAN = -5.3688107                        # StrongAug.mean: (x - mean) / std
LOGMEL_STD = 4.410007

_HIGHEST = jax.lax.Precision.HIGHEST


# --------------------------------------------------------------------------------------------
# Log-mel front end
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int = 16000, n_fft: int = 1024, n_mels: int = 80,
                   fmin: float = 0.0, fmax: Optional[float] = None) -> np.ndarray:
    """Slaney mel filterbank of `librosa.filters.mel`, transposed: `[n_fft // 2 + 1, n_mels] float32`.

    Cached; the returned array is read-only.
    """
    import librosa  # host-side only, once per configuration

    fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                             htk=False, norm="slaney", dtype=np.float32)
    fb = np.ascontiguousarray(fb.T)
    fb.setflags(write=False)
    return fb


@functools.lru_cache(maxsize=16)
def _hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window (`scipy.signal.get_window('hann', n, fftbins=True)`): `[n_fft] float32`."""
    n = np.arange(n_fft, dtype=np.float64)
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)
    w.setflags(write=False)
    return w


def _frame(x: jax.Array, n_fft: int, hop: int, num_frames: int) -> jax.Array:
    """Overlapping frames of a padded signal by one index gather: `x: [N, L]` -> `[N, frames, n_fft]`.

    (A gather-free strided construction, n_fft/gcd(n_fft, hop) strided slices of gcd-sized
    blocks stacked, measured ~1.4x slower on CPU in interleaved runs.)
    """
    idx = np.arange(num_frames)[:, None] * hop + np.arange(n_fft)[None, :]
    return x[:, idx]


def power_spectrogram(wave: jax.Array, *, n_fft: int = 1024, hop_length: int = 160) -> jax.Array:
    """|STFT|^2 as librosa 0.8.1 computes it (center=True, reflect pad, periodic Hann).

    wave: [..., S] float32 with S > n_fft // 2 (reflect padding).
    Returns [..., frames, n_fft // 2 + 1] float32, frames = 1 + S // hop_length.

    STFT choice, measured on CPU (2 shared cores, B=64, 2 s at 16 kHz, n_fft 1024, hop 160;
    15 interleaved rounds, min / median): index-gather framing + jnp.fft.rfft 53-68 / 72-77 ms;
    strided-slice framing + rfft 82-95 / 102-107 ms; gather + matmul against the [1024, 1026]
    windowed DFT basis 277-437 / 458-485 ms; strided conv with that basis 157-299 / 293-317 ms.
    The rfft does ~50x fewer flops than the DFT matmul and is kept. (On TPU, where FFTs are
    slow and matmuls fast, the DFT matmul is the one to measure.)
    """
    wave = jnp.asarray(wave, jnp.float32)
    lead, s = wave.shape[:-1], wave.shape[-1]
    pad = n_fft // 2
    if s <= pad:
        raise ValueError(f"power_spectrogram: the waveform has {s} samples; reflect padding needs "
                         f"more than n_fft // 2 = {pad}. Pad the audio on the host first.")
    x = wave.reshape(-1, s)
    x = jnp.pad(x, ((0, 0), (pad, pad)), mode="reflect")
    num_frames = 1 + s // hop_length
    frames = _frame(x, n_fft, hop_length, num_frames) * _hann(n_fft)
    spec = jnp.fft.rfft(frames, n=n_fft, axis=-1)
    power = jnp.square(spec.real) + jnp.square(spec.imag)
    return power.reshape(*lead, num_frames, n_fft // 2 + 1)


def log_mel(wave: jax.Array, *, sample_rate: int = 16000, n_fft: int = 1024, hop_length: int = 160,
            n_mels: int = 80, fmin: float = 0.0, fmax: Optional[float] = None,
            normalize: bool = True) -> jax.Array:
    """Normalised log-mel spectrogram of CrissCross (`MelSpectrogramLibrosa` + `StrongAug`).

    wave: [B, S] float32 (any leading dims).
    Returns [B, n_mels, frames] float32, frames = 1 + S // hop_length (2 s at 16 kHz -> 201):
    `log(mel @ (|X|^2 + 2.2e-16) + 1.19e-7)`, then `(x + 5.3688107) / 4.410007` if `normalize`.
    """
    power = power_spectrogram(wave, n_fft=n_fft, hop_length=hop_length) + POWER_EPS
    fb = jnp.asarray(mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax))
    mel = jnp.einsum("...tf,fm->...mt", power, fb, precision=_HIGHEST)
    out = jnp.log(mel + LOG_EPS)
    if normalize:
        out = (out - LOGMEL_MEAN) / LOGMEL_STD
    return out


# --------------------------------------------------------------------------------------------
# Bicubic interpolation as torch.nn.functional.interpolate(mode="bicubic") does it
# --------------------------------------------------------------------------------------------

_CUBIC_A = -0.75  # torch's (and OpenCV's) cubic convolution coefficient


def _cubic_weights(t: jax.Array) -> jax.Array:
    """Torch's `get_cubic_upsample_coefficients`: the 4 tap weights for fraction t. [...] -> [..., 4]."""
    a = _CUBIC_A

    def near(x):   # |x| <= 1
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0

    def far(x):    # 1 < |x| < 2
        return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a

    return jnp.stack([far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)], axis=-1)


def _cubic_taps(num: jax.Array, den, hi) -> tuple[jax.Array, jax.Array]:
    """Torch bicubic taps for the source coordinates `src = num / den` (`num: [n]` int32, den > 0).

    Taps are floor(src) - 1 .. floor(src) + 2 clamped to [0, hi] (edge replication within the
    resized window). The coordinate is kept as an exact rational: floor and fraction come from
    integer division, so the result does not depend on how XLA rounds (it rewrites a division by
    a constant as a multiplication by its reciprocal). Torch computes the coordinate in float32;
    the two differ by float32 rounding only (<= ~1e-4 on unit-scale inputs).
    Returns ([n, 4] int32, [n, 4] float32).
    """
    i0 = jnp.floor_divide(num, den)
    frac = (num - i0 * den).astype(jnp.float32) / jnp.asarray(den, jnp.float32)
    w = _cubic_weights(frac)
    taps = i0[:, None] + jnp.arange(-1, 3, dtype=jnp.int32)[None, :]
    return jnp.clip(taps, 0, hi), w


def _taps_to_matrix(taps: jax.Array, w: jax.Array, in_total: int) -> jax.Array:
    """[n, 4] taps + weights -> dense [n, in_total] interpolation matrix (duplicate taps add)."""
    onehot = taps[..., None] == jnp.arange(in_total)[None, None, :]
    return jnp.sum(jnp.where(onehot, w[..., None], 0.0), axis=1)


def _crop_resize_matrix(out_size: int, in_total: int, start, length) -> jax.Array:
    """`[out_size, in_total]` matrix M with `M @ x == F.interpolate(x[start:start+length],
    out_size, mode="bicubic", align_corners=True)` along one axis (start, length traced).

    align_corners: src = o * (length - 1) / (out_size - 1), or 0 when out_size == 1.
    """
    length = jnp.asarray(length, jnp.int32)
    o = jnp.arange(out_size, dtype=jnp.int32)
    if out_size > 1:
        taps, w = _cubic_taps(o * (length - 1), out_size - 1, length - 1)
    else:
        taps, w = _cubic_taps(o * 0, 1, length - 1)
    return _taps_to_matrix(taps + start, w, in_total)


# --------------------------------------------------------------------------------------------
# Augmentations
# --------------------------------------------------------------------------------------------

def _randint(u: jax.Array, low, high) -> jax.Array:
    """Integers uniform in [low, high) (high > low, traced) from uniforms `u` in [0, 1).

    All random draws of this module are uniforms drawn for the whole batch in one call and
    mapped to integers here: one threefry call per augmentation instead of several per example
    (this is much cheaper to compile and to run than vmapped `jax.random.randint` calls).
    """
    low = jnp.asarray(low, jnp.int32)
    span = jnp.asarray(high, jnp.int32) - low
    k = jnp.floor(u * span.astype(jnp.float32)).astype(jnp.int32)
    return low + jnp.clip(k, 0, span - 1)


def volume_jitter(wave: jax.Array, key: jax.Array, low: float = 0.8, high: float = 1.2) -> jax.Array:
    """`VolJitter`: each example times its own gain ~ U(low, high).

    wave: [B, S] float32 (any trailing dims). Returns the same shape.
    """
    gain = jax.random.uniform(key, (wave.shape[0],), jnp.float32, low, high)
    return wave * gain.reshape((-1,) + (1,) * (wave.ndim - 1)).astype(wave.dtype)


def _mask_axis(spec: jax.Array, u: jax.Array, axis: int, max_width: int) -> jax.Array:
    """`MaskAlongAxis(replace_with_zero=False)` on one example `spec: [F, T]`, `u: [2, num_masks]`.

    widths ~ randint(0, max_width) (torch.randint: 0 .. max_width - 1); every start ~
    randint(0, max(1, D - max(widths))); the union of the masks is filled with the mean of the
    whole spectrogram as it is before this call.
    """
    d = spec.shape[axis]
    widths = _randint(u[0], 0, max_width)
    pos = _randint(u[1], 0, jnp.maximum(1, d - jnp.max(widths)))
    ar = jnp.arange(d)
    mask = jnp.any((pos[:, None] <= ar[None, :]) & (ar[None, :] < (pos + widths)[:, None]), axis=0)
    mask = mask[:, None] if axis == 0 else mask[None, :]
    return jnp.where(mask, jnp.mean(spec), spec)


def spec_augment(spec: jax.Array, key: jax.Array, num_freq_masks: int = 2, max_freq_width: int = 10,
                 num_time_masks: int = 2, max_time_width: int = 20) -> jax.Array:
    """SpecAugment masks of CrissCross: frequency masks first, then time masks.

    spec: [B, F, T] float32. Each example draws its own masks: `num_*_masks` bands of width
    randint(0, max_*_width) (exclusive upper bound, as `torch.randint`; so at most
    max - 1 rows each), filled with that example's spectrogram mean (the time masks use the mean
    after frequency masking, as the reference applies them one after the other).
    A count of 0 disables that kind of mask. Returns [B, F, T].
    """
    b = spec.shape[0]
    kf, kt = jax.random.split(key)
    if num_freq_masks > 0 and max_freq_width > 0:
        u = jax.random.uniform(kf, (b, 2, num_freq_masks))
        spec = jax.vmap(functools.partial(_mask_axis, axis=0, max_width=max_freq_width))(spec, u)
    if num_time_masks > 0 and max_time_width > 0:
        u = jax.random.uniform(kt, (b, 2, num_time_masks))
        spec = jax.vmap(functools.partial(_mask_axis, axis=1, max_width=max_time_width))(spec, u)
    return spec


def _crop_resize_one(spec: jax.Array, i, j, h, w, canvas_h: int, canvas_w: int) -> jax.Array:
    """Crop [i:i+h, j:j+w] of the zero canvas `canvas_h x canvas_w` holding `spec: [F, T]` in its
    centre, resized back to [F, T] with torch bicubic (align_corners=True). i, j, h, w traced."""
    f, t = spec.shape
    y0, x0 = (canvas_h - f) // 2, (canvas_w - t) // 2
    rows = _crop_resize_matrix(f, canvas_h, i, h)          # [F, canvas_h]
    cols = _crop_resize_matrix(t, canvas_w, j, w)          # [T, canvas_w]
    # The canvas is zero outside the centred spectrogram: keep only the part that sees it.
    rows = rows[:, y0:y0 + f]
    cols = cols[:, x0:x0 + t]
    out = jnp.matmul(rows, spec, precision=_HIGHEST)
    return jnp.matmul(out, cols.T, precision=_HIGHEST)


def _rrc_one(spec: jax.Array, u: jax.Array, virtual_crop_scale, crop_scale) -> jax.Array:
    """One example of `random_resize_crop`; `u: [4]` uniforms in [0, 1)."""
    f, t = spec.shape
    canvas_h, canvas_w = int(f * virtual_crop_scale[0]), int(t * virtual_crop_scale[1])
    lo, hi = crop_scale
    # int(np.random.uniform(lo, hi) * src) clipped to [1, canvas]; int() truncates (values > 0).
    h = jnp.clip(jnp.floor((lo + (hi - lo) * u[0]) * f).astype(jnp.int32), 1, canvas_h)
    w = jnp.clip(jnp.floor((lo + (hi - lo) * u[1]) * t).astype(jnp.int32), 1, canvas_w)
    # random.randint(0, canvas - size) (inclusive), 0 when the crop fills the canvas.
    i = _randint(u[2], 0, canvas_h - h + 1)
    j = _randint(u[3], 0, canvas_w - w + 1)
    return _crop_resize_one(spec, i, j, h, w, canvas_h, canvas_w)


def random_resize_crop(spec: jax.Array, key: jax.Array, virtual_crop_scale: Tuple[float, float] = (1.0, 1.5),
                       crop_scale: Tuple[float, float] = (0.6, 1.5)) -> jax.Array:
    """BYOL-A `RandomResizeCrop` (freq_scale = time_scale = crop_scale), per example.

    spec: [B, F, T] float32 -> [B, F, T] float32. For each example: the spectrogram is centred on
    a zero canvas of `int(F * vcs[0]) x int(T * vcs[1])` (80 x 301); a crop of
    `h = clip(int(U(crop_scale) * F), 1, canvas_h)` by `w = clip(int(U(crop_scale) * T), 1, canvas_w)`
    at a uniform integer position is resized back to F x T with torch's bicubic kernel
    (`F.interpolate(mode="bicubic", align_corners=True)`: A = -0.75, edge-replicated taps within
    the crop). The resize is separable, done as two small matmuls per example with interpolation
    matrices built from the traced crop geometry, so it reproduces torch's arithmetic up to
    float32 rounding (torch rounds the source coordinate to float32; here it is exact).
    `jax.image.scale_and_translate(method="cubic")` was not used: it is the Keys kernel with
    A = -0.5, half-pixel centres (align_corners=False), renormalised weights at the borders
    instead of edge replication, and antialiasing when shrinking, all of which differ from torch
    by far more than rounding.
    """
    u = jax.random.uniform(key, (spec.shape[0], 4))
    fn = functools.partial(_rrc_one, virtual_crop_scale=tuple(virtual_crop_scale),
                           crop_scale=tuple(crop_scale))
    return jax.vmap(fn)(spec, u)


def _warp_one(spec: jax.Array, center, warped) -> jax.Array:
    """Resize columns [0, center) of `spec: [F, T]` to [0, warped) and [center, T) to [warped, T)
    with torch bicubic, align_corners=False (center, warped traced int32).

    align_corners=False: src = (o + 0.5) * n_in / n_out - 0.5 = ((2o + 1) n_in - n_out) / (2 n_out),
    not clamped at 0 for cubic (as torch does).
    """
    t = spec.shape[-1]
    o = jnp.arange(t, dtype=jnp.int32)
    left = o < warped
    n_in = jnp.where(left, center, t - center)
    n_out = jnp.where(left, warped, t - warped)
    idx = jnp.where(left, o, o - warped)
    taps, wts = _cubic_taps((2 * idx + 1) * n_in - n_out, 2 * n_out, (n_in - 1)[:, None])
    taps = taps + jnp.where(left, 0, center)[:, None]                        # [T, 4]
    m = _taps_to_matrix(taps, wts, t)                                        # [T_out, T_in]
    return jnp.matmul(spec, m.T, precision=_HIGHEST)


def _time_warp_one(spec: jax.Array, u: jax.Array, window: int) -> jax.Array:
    """One example of `time_warp`; `u: [2]` uniforms in [0, 1)."""
    t = spec.shape[-1]
    center = _randint(u[0], window, t - window)                              # [w, t - w)
    warped = _randint(u[1], center - window, center + window) + 1
    return _warp_one(spec, center, warped)


def time_warp(spec: jax.Array, key: jax.Array, window: int = 20) -> jax.Array:
    """SpecAugment time warp of the reference (`spec_aug.TimeWarp`, s3prl), per example.

    spec: [B, F, T] float32 -> [B, F, T]. center ~ randint(window, T - window),
    warped ~ randint(center - window, center + window) + 1; columns [0, center) are resized to
    [0, warped) and [center, T) to [warped, T) with torch bicubic (align_corners=False; along
    frequency the resize is the identity). Returned unchanged when T - window <= window, as in
    the reference. Disabled in pretraining; used for ESC-50/DCASE feature extraction.
    """
    if spec.shape[-1] - window <= window:
        return spec
    u = jax.random.uniform(key, (spec.shape[0], 2))
    return jax.vmap(functools.partial(_time_warp_one, window=window))(spec, u)


# --------------------------------------------------------------------------------------------
# Pipelines
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AudioAugConfig:
    """Audio front end + augmentation settings; defaults are CrissCross pretraining (VJ-MASK-RC).

    The on/off flags are named as in the reference yaml (`aud_aug_kwargs`): voljitter, timewarp,
    fmask, tmask, randcrop (its `fmask_len: [0, 10]` is `freq_width=10` here, `tmask_len` is
    `time_width`, `wrap_window` is `warp_window`).
    """
    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 160
    n_mels: int = 80
    fmin: float = 0.0
    fmax: Optional[float] = None
    normalize: bool = True
    voljitter: bool = True
    vol: float = 0.2                          # gain ~ U(1 - vol, 1 + vol)
    timewarp: bool = False
    warp_window: int = 20
    fmask: bool = True
    num_freq_masks: int = 2
    freq_width: int = 10                      # widths randint(0, freq_width)
    tmask: bool = True
    num_time_masks: int = 2
    time_width: int = 20                      # widths randint(0, time_width)
    randcrop: bool = True
    virtual_crop_scale: Tuple[float, float] = (1.0, 1.5)
    crop_scale: Tuple[float, float] = (0.6, 1.5)

    def __post_init__(self):
        if self.n_fft < 2 or self.hop_length < 1 or self.n_mels < 1:
            raise ValueError(f"AudioAugConfig: n_fft={self.n_fft}, hop_length={self.hop_length}, "
                             f"n_mels={self.n_mels} must be positive (n_fft >= 2).")
        if not 0.0 <= self.vol < 1.0:
            raise ValueError(f"AudioAugConfig.vol={self.vol}: use a value in [0, 1).")
        if self.fmask and not 0 < self.freq_width <= self.n_mels:
            raise ValueError(f"AudioAugConfig.freq_width={self.freq_width}: use 1..n_mels={self.n_mels}.")
        if self.tmask and self.time_width < 1:
            raise ValueError(f"AudioAugConfig.time_width={self.time_width}: use a positive width.")
        lo, hi = self.crop_scale
        if not 0 < lo <= hi or hi < 1.0:
            raise ValueError(f"AudioAugConfig.crop_scale={self.crop_scale}: use (min, max) with "
                             "0 < min <= max and max >= 1 (as BYOL-A asserts).")
        if min(self.virtual_crop_scale) < 1.0:
            raise ValueError(f"AudioAugConfig.virtual_crop_scale={self.virtual_crop_scale}: "
                             "both factors must be >= 1.")


def _log_mel_cfg(wave: jax.Array, cfg: AudioAugConfig) -> jax.Array:
    return log_mel(wave, sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                   n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, normalize=cfg.normalize)


def audio_augment(wave: jax.Array, key: jax.Array, cfg: AudioAugConfig = AudioAugConfig()) -> jax.Array:
    """`StrongAug(mode='train')`: the training view of a batch of waveforms.

    wave: [B, S] float32, already cropped / zero-padded to the clip length on the host.
    Order: volume jitter -> log-mel (+ normalisation) -> time warp -> frequency masks ->
    time masks -> random resize crop, each switched by its flag. The key is split into a fixed
    set of sub-keys, so turning one augmentation on or off does not change the others' draws.
    Returns spec: [B, n_mels, frames] float32.
    """
    k_vol, k_warp, k_mask, k_crop = jax.random.split(key, 4)
    if cfg.voljitter:
        wave = volume_jitter(wave, k_vol, 1.0 - cfg.vol, 1.0 + cfg.vol)
    spec = _log_mel_cfg(wave, cfg)
    if cfg.timewarp:
        spec = time_warp(spec, k_warp, cfg.warp_window)
    spec = spec_augment(spec, k_mask,
                        num_freq_masks=cfg.num_freq_masks if cfg.fmask else 0, max_freq_width=cfg.freq_width,
                        num_time_masks=cfg.num_time_masks if cfg.tmask else 0, max_time_width=cfg.time_width)
    if cfg.randcrop:
        spec = random_resize_crop(spec, k_crop, cfg.virtual_crop_scale, cfg.crop_scale)
    return spec


def audio_eval(wave: jax.Array, cfg: AudioAugConfig = AudioAugConfig()) -> jax.Array:
    """`StrongAug(mode='val')`: log-mel only. wave: [B, S] float32 -> [B, n_mels, frames] float32."""
    return _log_mel_cfg(wave, cfg)
