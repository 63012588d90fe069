"""Tests for avjax.audio: log-mel against librosa, and the CrissCross audio augmentations."""
import functools
import math

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

from avjax import audio

SR = 16000


def _jit(fn, **kwargs):
    return jax.jit(functools.partial(fn, **kwargs))


@functools.lru_cache(maxsize=None)
def _log_mel_fn(n_fft=1024, hop=160, n_mels=80, normalize=True):
    """One jitted log_mel per setting, shared by the tests (compiles are the slow part)."""
    return _jit(audio.log_mel, n_fft=n_fft, hop_length=hop, n_mels=n_mels, normalize=normalize)


def _signals(n: int, seed: int = 0) -> np.ndarray:
    """[4, n] float32: a loud chirp + noise, a quiet one, a partly silent noise, pure silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    chirp = np.sin(2 * np.pi * (80 * t + 2500 * t ** 2)) + 0.3 * np.sin(2 * np.pi * 440 * t)
    loud = 0.6 * chirp + 0.05 * rng.standard_normal(n)
    quiet = 1e-3 * np.sin(2 * np.pi * (300 * t + 1000 * t ** 2)) + 1e-4 * rng.standard_normal(n)
    gated = rng.standard_normal(n) * 0.1 * (t > t[-1] / 2)
    silence = np.zeros(n)
    return np.stack([loud, quiet, gated, silence]).astype(np.float32)


def _librosa_log_mel(x: np.ndarray, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
    mel = np.stack([
        librosa.feature.melspectrogram(y=xi, sr=SR, n_fft=n_fft, hop_length=hop, window="hann",
                                       center=True, pad_mode="reflect", power=2.0, n_mels=n_mels,
                                       fmin=0.0, fmax=None)
        for xi in x])
    return (np.log(mel + audio.LOG_EPS) - audio.LOGMEL_MEAN) / audio.LOGMEL_STD


@pytest.mark.parametrize("n_fft,hop,n_mels", [(1024, 160, 80), (512, 160, 40)])
@pytest.mark.parametrize("n", [32000, 12345])
def test_log_mel_matches_librosa(n_fft, hop, n_mels, n):
    x = _signals(n)
    ref = _librosa_log_mel(x, n_fft, hop, n_mels)
    out = np.asarray(_log_mel_fn(n_fft, hop, n_mels)(x))
    assert out.shape == ref.shape == (4, n_mels, 1 + n // hop)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4)


def test_log_mel_two_seconds_is_201_frames_and_constants():
    out = _log_mel_fn()(jnp.zeros((4, 2 * SR)))
    assert out.shape == (4, 80, 201) and out.dtype == jnp.float32
    # Silence: log(mel(eps) + float32 eps), normalised.
    expect = (math.log(1.1920929e-07) + 5.3688107) / 4.410007
    np.testing.assert_allclose(np.asarray(out), expect, atol=1e-5)
    raw = _log_mel_fn(normalize=False)(jnp.zeros((4, 2 * SR)))
    np.testing.assert_allclose(np.asarray(raw), math.log(1.1920929e-07), atol=1e-5)


def test_mel_filterbank_is_librosa_transposed_and_cached():
    fb = audio.mel_filterbank(16000, 1024, 80)
    assert fb.shape == (513, 80) and fb.dtype == np.float32
    np.testing.assert_array_equal(fb, librosa.filters.mel(sr=16000, n_fft=1024, n_mels=80).T)
    assert audio.mel_filterbank(16000, 1024, 80) is fb
    assert not fb.flags.writeable


def test_log_mel_rejects_too_short_audio():
    with pytest.raises(ValueError, match="n_fft // 2"):
        audio.log_mel(jnp.zeros((1, 100)))


def test_volume_jitter_range_and_per_example():
    wave = jnp.ones((512, 8))
    out = np.asarray(jax.jit(audio.volume_jitter)(wave, jax.random.key(0), 0.8, 1.2))
    gains = out[:, 0]
    assert np.all(out == gains[:, None])                 # one gain per example
    assert gains.min() >= 0.8 and gains.max() <= 1.2
    assert gains.max() - gains.min() > 0.3               # spread over the range
    assert abs(gains.mean() - 1.0) < 0.03


def _runs(mask_1d: np.ndarray) -> int:
    m = np.concatenate([[False], mask_1d])
    return int(np.sum(~m[:-1] & m[1:]))


def test_spec_augment_freq_masks():
    b, f, t = 256, 80, 201
    spec = jax.random.normal(jax.random.key(1), (b, f, t)) + 3.0
    out = np.asarray(_jit(audio.spec_augment, num_freq_masks=2, max_freq_width=10, num_time_masks=0)(
        spec, jax.random.key(2)))
    spec = np.asarray(spec)
    counts = []
    for k in range(b):
        changed = np.any(out[k] != spec[k], axis=1)       # [F]
        counts.append(changed.sum())
        assert changed.sum() <= 2 * 9                    # widths randint(0, 10): at most 9 each
        assert _runs(changed) <= 2
        np.testing.assert_allclose(out[k][changed], spec[k].mean(), rtol=1e-6)
        np.testing.assert_array_equal(out[k][~changed], spec[k][~changed])
    assert max(counts) >= 12 and min(counts) <= 4       # the widths really vary per example


def test_spec_augment_time_masks_use_mean_after_freq_masks():
    b, f, t = 128, 80, 201
    spec = np.asarray(jax.random.normal(jax.random.key(3), (b, f, t))) + 2.0
    key = jax.random.key(4)
    # The same key draws the same frequency masks with and without time masks.
    both = np.asarray(_jit(audio.spec_augment)(spec, key))
    freq_only = np.asarray(_jit(audio.spec_augment, num_time_masks=0)(spec, key))
    widest = 0
    for k in range(b):
        masked = np.all(np.isclose(both[k], freq_only[k].mean(), rtol=1e-6), axis=0)
        assert masked.sum() <= 2 * 19
        assert _runs(masked) <= 2
        np.testing.assert_array_equal(both[k][:, ~masked], freq_only[k][:, ~masked])
        widest = max(widest, masked.sum())
    assert widest >= 20


def test_spec_augment_widths_never_reach_max():
    # 2048 examples, one mask each: widths cover 0..max-1, never max.
    spec = jnp.broadcast_to(jnp.arange(40.0)[None, :, None], (2048, 40, 3))
    out = np.asarray(_jit(audio.spec_augment, num_freq_masks=1, max_freq_width=5, num_time_masks=0)(
        spec, jax.random.key(5)))
    widths = np.sum(out != np.asarray(spec), axis=1)[:, 0]
    # the mean (19.5) is not any row value, so every masked row differs.
    assert set(np.unique(widths)) == {0, 1, 2, 3, 4}


def _cubic(t, a=-0.75):
    t = abs(t)
    if t <= 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def _torch_bicubic_1d(x: np.ndarray, out: int, align_corners: bool) -> np.ndarray:
    """NumPy transcription of ATen's upsample_bicubic2d along the last axis, in float64.

    (ATen computes the source coordinate in float32; avjax keeps it exact. The two differ by
    float32 rounding only, ~1e-5 on these inputs.)
    """
    n = x.shape[-1]
    res = np.zeros(x.shape[:-1] + (out,))
    for o in range(out):
        if align_corners:
            src = o * ((n - 1) / (out - 1) if out > 1 else 0.0)
        else:
            src = (o + 0.5) * (n / out) - 0.5
        i0 = math.floor(src)
        frac = src - i0
        for k in range(-1, 3):
            idx = min(max(i0 + k, 0), n - 1)
            res[..., o] += _cubic(k - frac) * x[..., idx]
    return res


def _torch_rrc(spec: np.ndarray, i: int, j: int, h: int, w: int, vcs=(1.0, 1.5)) -> np.ndarray:
    f, t = spec.shape
    ch, cw = int(f * vcs[0]), int(t * vcs[1])
    canvas = np.zeros((ch, cw))
    y0, x0 = (ch - f) // 2, (cw - t) // 2
    canvas[y0:y0 + f, x0:x0 + t] = spec
    crop = canvas[i:i + h, j:j + w]
    crop = _torch_bicubic_1d(crop, t, True)               # along time
    return _torch_bicubic_1d(crop.T, f, True).T           # along frequency


@pytest.mark.parametrize("i,j,h,w", [(0, 50, 80, 201), (0, 0, 80, 301), (10, 37, 48, 120),
                                     (0, 150, 80, 151), (79, 300, 1, 1), (5, 3, 61, 290)])
def test_crop_resize_matches_torch_bicubic_reference(i, j, h, w):
    spec = np.random.default_rng(0).standard_normal((80, 201)).astype(np.float32)
    ref = _torch_rrc(spec, i, j, h, w)
    out = np.asarray(jax.jit(audio._crop_resize_one, static_argnums=(5, 6))(
        spec, i, j, h, w, 80, 301))
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_random_resize_crop_shape_determinism_and_keys():
    spec = jax.random.normal(jax.random.key(0), (4, 80, 201))
    fn = jax.jit(audio.random_resize_crop)
    a = np.asarray(fn(spec, jax.random.key(1)))
    b = np.asarray(fn(spec, jax.random.key(1)))
    c = np.asarray(fn(spec, jax.random.key(2)))
    assert a.shape == (4, 80, 201) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # Per-example geometry: identical inputs give different crops within one batch.
    same = jnp.broadcast_to(spec[:1], (4, 80, 201))
    d = np.asarray(fn(same, jax.random.key(3)))
    assert not np.allclose(d[0], d[1])


def test_random_resize_crop_identity_at_full_scale():
    spec = jax.random.normal(jax.random.key(0), (3, 80, 201))
    # No virtual canvas and a crop of exactly the input: the identity.
    out = _jit(audio.random_resize_crop, virtual_crop_scale=(1.0, 1.0), crop_scale=(1.0, 1.0))(
        spec, jax.random.key(1))
    np.testing.assert_allclose(np.asarray(out), np.asarray(spec), atol=1e-5)
    # Crop of a slightly smaller size: a mild zoom, close to the input away from the edges on a
    # smooth spectrogram.
    smooth = jnp.sin(jnp.arange(80.0)[:, None] / 9.0) * jnp.cos(jnp.arange(201.0)[None, :] / 17.0)
    smooth = jnp.broadcast_to(smooth, (2, 80, 201))
    out = np.asarray(_jit(audio.random_resize_crop, virtual_crop_scale=(1.0, 1.0), crop_scale=(0.99, 1.0))(
        smooth, jax.random.key(2)))
    assert np.abs(out - np.asarray(smooth))[:, 10:-10, 20:-20].max() < 0.15


def test_time_warp_matches_torch_bicubic_reference():
    spec = np.random.default_rng(1).standard_normal((80, 201)).astype(np.float32)
    warp = jax.jit(audio._warp_one)
    for center, warped in [(100, 90), (20, 40), (180, 161), (57, 57), (21, 2)]:
        ref = np.concatenate([_torch_bicubic_1d(spec[:, :center], warped, False),
                              _torch_bicubic_1d(spec[:, center:], 201 - warped, False)], axis=1)
        out = np.asarray(warp(jnp.asarray(spec), jnp.int32(center), jnp.int32(warped)))
        np.testing.assert_allclose(out, ref, atol=1e-5)


def test_time_warp_batch_and_short_input():
    spec = jax.random.normal(jax.random.key(0), (3, 80, 201))
    out = jax.jit(audio.time_warp)(spec, jax.random.key(1))
    assert out.shape == spec.shape
    assert not np.allclose(out, spec)
    const = jnp.full((2, 8, 101), 1.5)
    np.testing.assert_allclose(np.asarray(jax.jit(audio.time_warp)(const, jax.random.key(2))), 1.5,
                               atol=1e-5)
    short = jax.random.normal(jax.random.key(0), (2, 8, 40))
    np.testing.assert_array_equal(np.asarray(audio.time_warp(short, jax.random.key(1), window=20)),
                                  np.asarray(short))


def test_audio_augment_and_eval_under_jit():
    wave = jnp.asarray(_signals(2 * SR))
    cfg = audio.AudioAugConfig()
    aug = jax.jit(audio.audio_augment, static_argnums=2)
    a = aug(wave, jax.random.key(0), cfg)
    b = aug(wave, jax.random.key(1), cfg)
    assert a.shape == (4, 80, 201) and a.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(a)))
    assert not np.allclose(a, b)
    ev = jax.jit(audio.audio_eval, static_argnums=1)(wave, cfg)
    np.testing.assert_array_equal(np.asarray(ev), np.asarray(_log_mel_fn()(wave)))
    # Everything off except the front end: augment == eval.
    off = audio.AudioAugConfig(voljitter=False, fmask=False, tmask=False, randcrop=False)
    np.testing.assert_allclose(np.asarray(aug(wave, jax.random.key(0), off)), np.asarray(ev), atol=1e-6)


def test_audio_aug_config_validation():
    with pytest.raises(ValueError, match="vol"):
        audio.AudioAugConfig(vol=1.5)
    with pytest.raises(ValueError, match="crop_scale"):
        audio.AudioAugConfig(crop_scale=(0.6, 0.9))
    with pytest.raises(ValueError, match="freq_width"):
        audio.AudioAugConfig(freq_width=100)
