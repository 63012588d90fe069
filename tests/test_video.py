"""Tests for avjax.video: torchvision colour formulas, blur, greyscale, cutout, the pipeline."""
import colorsys
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from avjax import video

LUMA = np.array([0.299, 0.587, 0.114])


def _jit(fn, **kwargs):
    return jax.jit(functools.partial(fn, **kwargs))


def _clip_u8(b=3, t=2, h=16, w=16, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (b, t, h, w, 3), dtype=np.uint8)


def _image(seed=0, h=8, w=8) -> np.ndarray:
    """[h, w, 3] float64 in [0, 1], with a grey pixel, black and white pixels, saturated colours."""
    img = np.random.default_rng(seed).random((h, w, 3))
    img[0, 0] = 0.5
    img[0, 1] = 0.0
    img[0, 2] = 1.0
    img[0, 3] = (1.0, 0.0, 0.0)
    img[0, 4] = (0.2, 0.9, 0.9)
    return img


# ---------------------------------------------------------------- NumPy references (torchvision)

def _ref_brightness(x, f):
    return np.clip(f * x, 0, 1)


def _ref_contrast(x, f):
    mean = (x @ LUMA).mean(axis=(-2, -1), keepdims=True)[..., None]
    return np.clip(f * x + (1 - f) * mean, 0, 1)


def _ref_saturation(x, f):
    return np.clip(f * x + (1 - f) * (x @ LUMA)[..., None], 0, 1)


def _ref_hue(x, f):
    out = np.empty_like(x)
    for idx in np.ndindex(x.shape[:-1]):
        h, s, v = colorsys.rgb_to_hsv(*x[idx])
        out[idx] = colorsys.hsv_to_rgb((h + f) % 1.0, s, v)
    return out


_REFS = {"brightness": _ref_brightness, "contrast": _ref_contrast,
         "saturation": _ref_saturation, "hue": _ref_hue}
_OPS = {"brightness": video.adjust_brightness, "contrast": video.adjust_contrast,
        "saturation": video.adjust_saturation, "hue": video.adjust_hue}


@pytest.mark.parametrize("name,factors", [
    ("brightness", [0.0, 0.6, 1.0, 1.4, 2.0]),
    ("contrast", [0.0, 0.6, 1.0, 1.4]),
    ("saturation", [0.0, 0.6, 1.0, 1.4]),
    ("hue", [-0.5, -0.2, -0.05, 0.0, 0.13, 0.2, 0.5]),
])
def test_colour_ops_match_torchvision_formulas(name, factors):
    img = _image()
    fn = jax.jit(_OPS[name])
    for f in factors:
        out = np.asarray(fn(jnp.asarray(img, jnp.float32), f))
        np.testing.assert_allclose(out, _REFS[name](img, f), atol=2e-6, err_msg=f"{name} {f}")


def test_contrast_mean_is_per_frame():
    clip = np.stack([_image(1), _image(2) * 0.3])                      # [T=2, H, W, 3]
    out = np.asarray(jax.jit(video.adjust_contrast)(jnp.asarray(clip, jnp.float32), 0.5))
    for t in range(2):
        np.testing.assert_allclose(out[t], _ref_contrast(clip[t], 0.5), atol=2e-6)


def test_hsv_roundtrip():
    img = jnp.asarray(_image(3, 16, 16), jnp.float32)
    roundtrip = jax.jit(lambda x: video.hsv_to_rgb(video.rgb_to_hsv(x)))
    np.testing.assert_allclose(np.asarray(roundtrip(img)), np.asarray(img), atol=2e-6)


def test_grayscale_weights_match_pil():
    assert video.LUMA_WEIGHTS == (0.299, 0.587, 0.114)
    prim = jnp.eye(3, dtype=jnp.float32)[:, None, None, :]             # red, green, blue pixels
    np.testing.assert_allclose(np.asarray(video.rgb_to_grayscale(prim)).ravel(), LUMA, atol=1e-7)
    u8 = _clip_u8(1, 1, 24, 24)[0, 0]
    pil = np.asarray(Image.fromarray(u8).convert("L"), np.float64)
    ours = np.asarray(video.rgb_to_grayscale(video.to_float(u8)))[..., 0] * 255
    assert np.abs(ours - pil).max() <= 0.5 + 1e-3                      # PIL rounds to uint8


def test_grayscale_per_clip():
    x = video.to_float(_clip_u8(b=200, t=2, h=4, w=4))
    out = np.asarray(_jit(video.grayscale, p=0.2)(x, jax.random.key(0)))
    x = np.asarray(x)
    gray = np.repeat(x @ LUMA.astype(np.float32), 3).reshape(x.shape)
    is_gray = np.array([np.allclose(o, g, atol=1e-6) for o, g in zip(out, gray)])
    unchanged = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert np.all(is_gray ^ unchanged)                                 # whole clips, one or the other
    assert 0.1 < is_gray.mean() < 0.3
    all_gray = np.asarray(_jit(video.grayscale, p=1.0)(jnp.asarray(x), jax.random.key(1)))
    np.testing.assert_allclose(all_gray, gray, atol=1e-6)


def test_gaussian_kernel_sums_to_one_and_matches_torchvision():
    for sigma in (0.1, 0.7, 2.0):
        k = np.asarray(video.gaussian_kernel1d(11, sigma))
        xs = np.arange(-5, 6)
        ref = np.exp(-0.5 * (xs / sigma) ** 2)
        np.testing.assert_allclose(k, ref / ref.sum(), atol=1e-7)
        assert abs(k.sum() - 1) < 1e-6
    batched = np.asarray(video.gaussian_kernel1d(11, jnp.array([0.5, 1.5])))
    assert batched.shape == (2, 11)


def test_blur_matches_scipy_reflect_and_preserves_constants():
    img = np.random.default_rng(0).random((2, 20, 24, 3)).astype(np.float32)   # [T, H, W, 3]
    sx, sy = 0.1, 2.0
    kx = np.asarray(video.gaussian_kernel1d(11, sx), np.float64)
    ky = np.asarray(video.gaussian_kernel1d(11, sy), np.float64)
    # torch 'reflect' (no edge repeat) is scipy's 'mirror'.
    ref = ndimage.correlate1d(img.astype(np.float64), ky, axis=1, mode="mirror")
    ref = ndimage.correlate1d(ref, kx, axis=2, mode="mirror")
    blur = jax.jit(video.blur, static_argnums=3)
    np.testing.assert_allclose(np.asarray(blur(img, sx, sy, 11)), ref, atol=1e-5)
    const = np.full((1, 16, 16, 3), 0.37, np.float32)
    np.testing.assert_allclose(np.asarray(blur(const, 1.3, 1.3, 11)), 0.37, atol=1e-6)


def test_gaussian_blur_sigma_modes():
    impulse = np.zeros((8, 1, 21, 21, 3), np.float32)
    impulse[:, :, 10, 10] = 1.0
    x = jnp.asarray(impulse)
    # Default: one sigma per clip, the same on both axes -> a symmetric blob.
    out = np.asarray(_jit(video.gaussian_blur, p=1.0)(x, jax.random.key(0)))
    for clip in out:
        np.testing.assert_allclose(clip[0, :, :, 0], clip[0, :, :, 0].T, atol=1e-7)
    peaks = out[:, 0, 10, 10, 0]
    assert len(np.unique(peaks)) >= 6 and peaks.min() < 0.5            # per-clip sigma
    # Quirk: (sigma_x, sigma_y) = (0.1, 2.0): blurred down, not across.
    q = np.asarray(_jit(video.gaussian_blur, p=1.0, sigma_quirk=True)(x, jax.random.key(0)))
    np.testing.assert_allclose(q[0], np.asarray(jax.jit(video.blur, static_argnums=3)(x[0], 0.1, 2.0, 11)),
                               atol=1e-7)
    assert q[0, 0, 10, 11, 0] < 1e-6 and q[0, 0, 11, 10, 0] > 0.1
    # p = 0: untouched.
    np.testing.assert_array_equal(np.asarray(_jit(video.gaussian_blur, p=0.0)(x, jax.random.key(0))),
                                  impulse)


def _rect(mask_hw: np.ndarray):
    ys, xs = np.nonzero(mask_hw)
    if ys.size == 0:
        return 0, 0
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert mask_hw.sum() == h * w                                      # a filled rectangle
    return h, w


@pytest.mark.parametrize("multiply_quirk", [False, True])
def test_cutout_patch_and_fill(multiply_quirk):
    b, t, hh, ww = 64, 3, 40, 48
    x = video.normalize(video.to_float(_clip_u8(b, t, hh, ww)))
    fn = _jit(video.cutout, p=1.0, max_size=20, multiply_quirk=multiply_quirk)
    out = np.asarray(fn(x, jax.random.key(0)))
    x = np.asarray(x)
    sides = []
    for k in range(b):
        changed = out[k] != x[k]                                       # [T, H, W, 3]
        mask = changed.any(axis=(0, 3))
        # the same patch on every frame and channel
        assert np.all(changed.any(axis=3) == mask[None]) or not mask.any()
        h, w = _rect(mask)
        assert h <= 20 and w <= 20
        if mask.any():
            ys, xs = np.nonzero(mask)
            if ys.min() > 0 and xs.min() > 0 and ys.max() < hh - 1 and xs.max() < ww - 1:
                assert h == w and h % 2 == 0                           # side 2 * (length // 2)
        sides.append((h, w))
        v = x[k, 0].mean()                                             # first frame, normalised
        patch = out[k][:, mask]
        expect = x[k][:, mask] * v if multiply_quirk else np.full_like(patch, v)
        np.testing.assert_allclose(patch, expect, rtol=1e-6, atol=1e-6)
    assert max(max(s) for s in sides) == 20


def test_cutout_same_geometry_in_both_modes_and_p0():
    x = video.normalize(video.to_float(_clip_u8(8, 2, 32, 32)))
    key = jax.random.key(5)
    both = jax.jit(lambda x, k: (video.cutout(x, k), video.cutout(x, k, multiply_quirk=True),
                                 video.cutout(x, k, p=0.0)))
    a, b, off = (np.asarray(y) for y in both(x, key))
    x = np.asarray(x)
    np.testing.assert_array_equal((a != x).any(axis=-1), (b != x).any(axis=-1))
    np.testing.assert_array_equal(off, x)


def test_color_jitter_order_and_factors_match_reference():
    b = 6
    x = np.stack([np.stack([_image(10 + i), _image(20 + i)]) for i in range(b)])   # [B, 2, 8, 8, 3]
    key = jax.random.key(3)
    params = jax.tree.map(np.asarray, video._jitter_params(key, b, 0.4, 0.4, 0.4, 0.2))
    out = np.asarray(_jit(video.color_jitter)(jnp.asarray(x, jnp.float32), key))
    names = ["brightness", "contrast", "saturation"]
    for k in range(b):
        seq = [(names[kind], f) for kind, f in zip(params["kind"][k], params["factor"][k])]
        seq.insert(int(params["hue_pos"][k]), ("hue", params["hue"][k]))
        ref = x[k].astype(np.float64)
        for name, f in seq:
            ref = _REFS[name](ref, float(f))
        np.testing.assert_allclose(out[k], ref, atol=2e-5)


def test_color_jitter_draws():
    b = 4000
    p = jax.tree.map(np.asarray, jax.jit(video._jitter_params, static_argnums=(1, 2, 3, 4, 5))(
        jax.random.key(0), b, 0.4, 0.4, 0.4, 0.2))
    orders = {(int(h),) + tuple(k) for h, k in zip(p["hue_pos"], p["kind"])}
    assert len(orders) == 24                                           # every permutation occurs
    assert p["factor"].min() >= 0.6 and p["factor"].max() <= 1.4
    assert np.abs(p["hue"]).max() <= 0.2 and p["hue"].min() < -0.15 and p["hue"].max() > 0.15
    for kind in range(3):                                              # each op's factor ~ U(0.6, 1.4)
        f = p["factor"][p["kind"] == kind]
        assert abs(f.mean() - 1.0) < 0.03


def test_color_jitter_brightness_only_is_one_factor_per_clip():
    x = np.asarray(video.to_float(_clip_u8(5, 3, 8, 8))) * 0.5 + 0.1       # no clipping at 1.4
    out = np.asarray(_jit(video.color_jitter, contrast=0.0, saturation=0.0, hue=0.0)(
        jnp.asarray(x), jax.random.key(1)))
    ratio = out / x
    for r in ratio:
        assert np.ptp(r) < 1e-5 and 0.6 <= r.mean() <= 1.4
    assert np.ptp(ratio.reshape(5, -1).mean(axis=1)) > 0.01


def test_video_augment_jit_shapes_consistency_and_independence():
    cfg = video.VideoAugConfig()
    aug = jax.jit(video.video_augment, static_argnums=2)
    frame = _clip_u8(1, 1, 24, 24)[0, 0]
    clip = np.broadcast_to(frame, (6, 4, 24, 24, 3))                   # 6 identical clips of identical frames
    out = np.asarray(aug(jnp.asarray(clip), jax.random.key(0), cfg))
    assert out.shape == (6, 4, 24, 24, 3) and out.dtype == np.float32
    for k in range(6):                                                 # temporally consistent
        for t in range(1, 4):
            np.testing.assert_array_equal(out[k, t], out[k, 0])
    for k in range(1, 6):                                              # independent per clip
        assert not np.allclose(out[k], out[0])
    # An example's output does not depend on the other examples' content.
    other = _clip_u8(6, 4, 24, 24, seed=9)
    other[0] = clip[0]
    out2 = np.asarray(aug(jnp.asarray(other), jax.random.key(0), cfg))
    np.testing.assert_array_equal(out2[0], out[0])
    # Determinism and key dependence.
    np.testing.assert_array_equal(np.asarray(aug(jnp.asarray(clip), jax.random.key(0), cfg)), out)
    assert not np.allclose(np.asarray(aug(jnp.asarray(clip), jax.random.key(1), cfg)), out)


def test_video_augment_all_off_is_eval():
    v = jnp.asarray(_clip_u8(2, 2, 16, 16))
    off = video.VideoAugConfig(color_jitter=False, p_gray=0.0, p_blur=0.0, p_cutout=0.0)
    ev = np.asarray(jax.jit(video.video_eval)(v))
    aug = jax.jit(video.video_augment, static_argnums=2)
    np.testing.assert_allclose(np.asarray(aug(v, jax.random.key(0), off)), ev, atol=1e-6)
    mean = np.array(video.IMAGENET_MEAN)
    std = np.array(video.IMAGENET_STD)
    np.testing.assert_allclose(ev, (np.asarray(v) / 255.0 - mean) / std, atol=1e-5)


def test_video_aug_config_validation():
    with pytest.raises(ValueError, match="p_gray"):
        video.VideoAugConfig(p_gray=1.5)
    with pytest.raises(ValueError, match="blur_kernel_size"):
        video.VideoAugConfig(blur_kernel_size=10)
    with pytest.raises(ValueError, match="hue"):
        video.VideoAugConfig(hue=0.7)
    with pytest.raises(ValueError, match="hue"):
        video.color_jitter(jnp.zeros((1, 1, 4, 4, 3)), jax.random.key(0), hue=0.6)
