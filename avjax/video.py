"""On-device video augmentation: colour jitter, greyscale, Gaussian blur, normalisation, cutout.

Input is `video: [B, T, H, W, 3] uint8`, already cropped and flipped on the host (random resized
crop and horizontal flip change the shape or need PIL-exact resampling, so they stay in the
data pipeline). Everything here is pure JAX and jit-able. Every transform draws ONE set of
parameters per clip, shared by all its frames (temporally consistent), and the clips of a
batch draw independently.

Faithful to CrissCross `StrongTransforms` (`train/datasets/augmentations/video_augmentations.py`,
`videotransforms/video_transforms.py`; torchvision 0.8.2), in its order:

    ColorJitter(0.4, 0.4, 0.4, 0.2), always, ops in a random order per clip
      -> RandomGray(p=0.2) -> RandomGaussianBlur(k=11, p=0.5) -> /255 -> ImageNet normalise
      -> Cutout(p=1, size<=20, one square, same on all frames)

Deliberate differences from the reference (which works on PIL uint8 frames):
- Colour ops follow torchvision's tensor formulas in float32 (`functional_tensor`), with no
  re-quantisation to uint8 between ops (PIL rounds after every op, and its blur output is
  truncated by `to_pil_image`); the results differ by about one grey level.
- Contrast uses the float greyscale mean of each frame, as torchvision's tensor path does; PIL
  rounds that mean to an integer.
- Grey levels use the ITU-R 601-2 weights of PIL's `convert("L")` (0.299, 0.587, 0.114), which is
  what the reference's PIL path computes (torchvision's tensor path uses 0.2989).
- Two reference quirks are behind flags (defaults follow the paper, not the code):
  * `gaussian_blur(sigma_quirk=True)`: the reference passes `sigma=(0.1, 2.0)` straight to
    `F.gaussian_blur`, which reads it as (sigma_x, sigma_y): a fixed blur of 0.1 px across and
    2.0 px down. Default: sigma ~ U(0.1, 2.0) per clip, the same on both axes (torchvision
    `GaussianBlur`).
  * `cutout(multiply_quirk=True)`: the reference multiplies the patch by the fill value
    instead of replacing it. Default: the patch is replaced by the value.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Sequence, Tuple

import jax
import jax.numpy as jnp

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LUMA_WEIGHTS = (0.299, 0.587, 0.114)   # ITU-R 601-2, PIL convert("L")


# --------------------------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------------------------

def to_float(video: jax.Array) -> jax.Array:
    """`video: [..., 3] uint8` -> float32 in [0, 1] (ToTensor's /255)."""
    return jnp.asarray(video).astype(jnp.float32) / 255.0


def normalize(x: jax.Array, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> jax.Array:
    """Per-channel `(x - mean) / std`; `x: [..., 3] float32` in [0, 1]."""
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)
    return (x - mean) / std


def rgb_to_grayscale(x: jax.Array) -> jax.Array:
    """ITU-R 601-2 luma: `x: [..., 3]` -> `[..., 1]`."""
    return jnp.sum(x * jnp.asarray(LUMA_WEIGHTS, x.dtype), axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------------
# Deterministic colour ops (torchvision functional_tensor semantics, channel-last)
# `x: [..., H, W, 3] float32` in [0, 1]; factors are scalars or broadcast against x.
# --------------------------------------------------------------------------------------------

def _blend(img1: jax.Array, img2: jax.Array, ratio) -> jax.Array:
    return jnp.clip(ratio * img1 + (1.0 - ratio) * img2, 0.0, 1.0)


def adjust_brightness(x: jax.Array, factor) -> jax.Array:
    """Blend with black: `clip(factor * x, 0, 1)`."""
    return _blend(x, jnp.zeros_like(x), factor)


def adjust_contrast(x: jax.Array, factor) -> jax.Array:
    """Blend with the mean grey level of each image (frame): `[..., H, W, 3]`."""
    mean = jnp.mean(rgb_to_grayscale(x), axis=(-3, -2, -1), keepdims=True)
    return _blend(x, mean, factor)


def adjust_saturation(x: jax.Array, factor) -> jax.Array:
    """Blend with the greyscale image."""
    return _blend(x, rgb_to_grayscale(x), factor)


def rgb_to_hsv(x: jax.Array) -> jax.Array:
    """torchvision `_rgb2hsv`, channel-last: `[..., 3]` RGB in [0, 1] -> HSV in [0, 1]."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    maxc = jnp.max(x, axis=-1)
    minc = jnp.min(x, axis=-1)
    eqc = maxc == minc
    cr = maxc - minc
    ones = jnp.ones_like(maxc)
    s = cr / jnp.where(eqc, ones, maxc)
    cr_div = jnp.where(eqc, ones, cr)
    rc = (maxc - r) / cr_div
    gc = (maxc - g) / cr_div
    bc = (maxc - b) / cr_div
    hr = jnp.where(maxc == r, bc - gc, 0.0)
    hg = jnp.where((maxc == g) & (maxc != r), 2.0 + rc - bc, 0.0)
    hb = jnp.where((maxc != g) & (maxc != r), 4.0 + gc - rc, 0.0)
    h = jnp.mod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return jnp.stack([h, s, maxc], axis=-1)


def hsv_to_rgb(x: jax.Array) -> jax.Array:
    """torchvision `_hsv2rgb`, channel-last: `[..., 3]` HSV -> RGB."""
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    i = jnp.floor(h * 6.0)
    f = h * 6.0 - i
    i = jnp.mod(i.astype(jnp.int32), 6)
    p = jnp.clip(v * (1.0 - s), 0.0, 1.0)
    q = jnp.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = jnp.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    sector = [i == k for k in range(6)]
    r = jnp.select(sector, [v, q, p, p, t, v])
    g = jnp.select(sector, [t, v, v, q, p, p])
    b = jnp.select(sector, [p, p, t, v, v, q])
    return jnp.stack([r, g, b], axis=-1)


def adjust_hue(x: jax.Array, factor) -> jax.Array:
    """Shift the HSV hue by `factor` in [-0.5, 0.5] (cyclically)."""
    hsv = rgb_to_hsv(x)
    h = jnp.mod(hsv[..., 0] + factor, 1.0)
    return hsv_to_rgb(jnp.stack([h, hsv[..., 1], hsv[..., 2]], axis=-1))


# --------------------------------------------------------------------------------------------
# Random, per-clip transforms. `x: [B, T, H, W, 3] float32` in [0, 1] unless stated.
# --------------------------------------------------------------------------------------------

def _per_clip(values: jax.Array, x: jax.Array) -> jax.Array:
    """[B] -> broadcastable against x: [B, 1, 1, 1, 1]."""
    return values.reshape((-1,) + (1,) * (x.ndim - 1))


_BRIGHTNESS, _CONTRAST, _SATURATION = 0, 1, 2


def _blend_op(clip: jax.Array, kind, factor) -> jax.Array:
    """adjust_brightness / adjust_contrast / adjust_saturation chosen by a traced `kind` (0/1/2):
    all three are `clip(f * x + (1 - f) * D, 0, 1)` with D = 0, the frame's mean grey, the grey."""
    gray = rgb_to_grayscale(clip)
    mean = jnp.mean(gray, axis=(-3, -2, -1), keepdims=True)
    other = jnp.where(kind == _BRIGHTNESS, 0.0, jnp.where(kind == _CONTRAST, mean, gray))
    return _blend(clip, other, factor)


def _check_jitter(brightness: float, contrast: float, saturation: float, hue: float) -> None:
    for name, val in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if val < 0:
            raise ValueError(f"color_jitter: {name}={val} must be >= 0.")
    if not 0.0 <= hue <= 0.5:
        raise ValueError(f"color_jitter: hue={hue} must be in [0, 0.5].")


def _jitter_params(key: jax.Array, b: int, brightness: float, contrast: float, saturation: float,
                   hue: float) -> dict:
    """Per-clip colour-jitter draws for a batch of b clips.

    Returns kind [B, m] int32 (the enabled blend ops, 0 brightness / 1 contrast / 2 saturation,
    in the order they run), factor [B, m], hue [B] (shift) and hue_pos [B] in 0..m (how many
    blend ops run before the hue shift). A uniform position for hue plus an independent uniform
    order of the others is exactly a uniform permutation of all the ops.
    """
    _check_jitter(brightness, contrast, saturation, hue)
    k_f, k_order, k_hue, k_pos = jax.random.split(key, 4)
    enabled = [(kind, s) for kind, s in ((_BRIGHTNESS, brightness), (_CONTRAST, contrast),
                                         (_SATURATION, saturation)) if s > 0]
    m = len(enabled)
    lo = jnp.asarray([max(0.0, 1.0 - s) for _, s in enabled], jnp.float32)
    hi = jnp.asarray([1.0 + s for _, s in enabled], jnp.float32)
    factors = lo + (hi - lo) * jax.random.uniform(k_f, (b, m))               # [B, m], per op
    order = jnp.argsort(jax.random.uniform(k_order, (b, m)), axis=1)         # [B, m]
    kinds = jnp.asarray([kind for kind, _ in enabled], jnp.int32)
    params = dict(kind=kinds[order], factor=jnp.take_along_axis(factors, order, axis=1))
    if hue > 0:
        params["hue"] = jax.random.uniform(k_hue, (b,), jnp.float32, -hue, hue)
        params["hue_pos"] = jax.random.randint(k_pos, (b,), 0, m + 1)
    return params


def _jitter_clip(clip: jax.Array, params: dict) -> jax.Array:
    """Apply one clip's jitter: `clip: [T, H, W, 3]`, params of `_jitter_params` for this clip."""
    kind, factor = params["kind"], params["factor"]
    m = kind.shape[0]
    if "hue" not in params:
        for j in range(m):
            clip = _blend_op(clip, kind[j], factor[j])
        return clip
    # The blends before the hue shift, the shift (computed once, on the selected state), then
    # the blends after it.
    states = [clip]
    for j in range(m):
        states.append(_blend_op(states[-1], kind[j], factor[j]))
    pos = params["hue_pos"]
    y = jnp.select([pos == j for j in range(m + 1)], states)
    y = adjust_hue(y, params["hue"])
    for j in range(m):
        y = jnp.where(j >= pos, _blend_op(y, kind[j], factor[j]), y)
    return y


def color_jitter(x: jax.Array, key: jax.Array, brightness: float = 0.4, contrast: float = 0.4,
                 saturation: float = 0.4, hue: float = 0.2) -> jax.Array:
    """torchvision `ColorJitter`, one draw per clip, always applied.

    x: [B, T, H, W, 3] float32 in [0, 1] -> same. Factors: brightness/contrast/saturation
    ~ U(max(0, 1 - s), 1 + s), hue ~ U(-h, h); an op with strength 0 is skipped. The enabled ops
    run in a uniformly random order per clip (as the reference's `random.shuffle`).

    Implementation of the random order: brightness, contrast and saturation are all blends
    `clip(f x + (1 - f) D)` (D = black / mean grey / grey), so each of the m blend slots is one
    blend whose D is selected per clip; the hue shift (the costly op) is computed once, on the
    state after `hue_pos` blends, and the remaining slots are applied after it. That is 2m
    cheap blends + 1 hue shift per clip, instead of the n^2 op evaluations (with n hue shifts)
    that a vmapped `lax.switch` per stage would compute.
    """
    _check_jitter(brightness, contrast, saturation, hue)
    if max(brightness, contrast, saturation, hue) <= 0:
        return x
    params = _jitter_params(key, x.shape[0], brightness, contrast, saturation, hue)
    return jax.vmap(_jitter_clip)(x, params)


def grayscale(x: jax.Array, key: jax.Array, p: float = 0.2) -> jax.Array:
    """`RandomGray`: with probability p per clip, luma replicated to 3 channels.

    x: [B, T, H, W, 3] float32 -> same.
    """
    apply = jax.random.uniform(key, (x.shape[0],)) < p
    gray = jnp.broadcast_to(rgb_to_grayscale(x), x.shape)
    return jnp.where(_per_clip(apply, x), gray, x)


def gaussian_kernel1d(kernel_size: int, sigma) -> jax.Array:
    """torchvision `_get_gaussian_kernel1d`: `[kernel_size]` (or `[..., kernel_size]` for a
    batched sigma), sampled at integer offsets and normalised to sum to 1."""
    half = (kernel_size - 1) * 0.5
    xs = jnp.linspace(-half, half, kernel_size, dtype=jnp.float32)
    sigma = jnp.asarray(sigma, jnp.float32)[..., None]
    pdf = jnp.exp(-0.5 * jnp.square(xs / sigma))
    return pdf / jnp.sum(pdf, axis=-1, keepdims=True)


def _correlate_axis(x: jax.Array, kernel: jax.Array, axis: int) -> jax.Array:
    """1-D correlation along `axis` with reflect padding (torch 'reflect' = numpy 'reflect')."""
    k = kernel.shape[-1]
    r = k // 2
    pad = [(0, 0)] * x.ndim
    pad[axis] = (r, r)
    xp = jnp.pad(x, pad, mode="reflect")
    n = x.shape[axis]
    out = 0.0
    for i in range(k):
        out = out + kernel[i] * jax.lax.slice_in_dim(xp, i, i + n, axis=axis)
    return out


def blur(x: jax.Array, sigma_x, sigma_y, kernel_size: int = 11) -> jax.Array:
    """torchvision `F.gaussian_blur(img, [k, k], [sigma_x, sigma_y])` on one clip.

    x: [..., H, W, 3] float32; sigma_x blurs along W, sigma_y along H (scalars, may be traced).
    Separable, reflect padding of k // 2 (needs H, W > k // 2).
    """
    if kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"blur: kernel_size={kernel_size} must be odd and positive.")
    x = _correlate_axis(x, gaussian_kernel1d(kernel_size, sigma_y), axis=x.ndim - 3)
    return _correlate_axis(x, gaussian_kernel1d(kernel_size, sigma_x), axis=x.ndim - 2)


def gaussian_blur(x: jax.Array, key: jax.Array, p: float = 0.5, kernel_size: int = 11,
                  sigma: Tuple[float, float] = (0.1, 2.0), sigma_quirk: bool = False) -> jax.Array:
    """`RandomGaussianBlur`: with probability p per clip, blur every frame the same way.

    x: [B, T, H, W, 3] float32 -> same. sigma ~ U(sigma[0], sigma[1]) per clip on both axes;
    with `sigma_quirk=True` the reference's behaviour instead: sigma_x = sigma[0] (across),
    sigma_y = sigma[1] (down), fixed. The reference uses kernel_size = crop // 20 * 2 + 1
    (11 at 112 px, 23 at 224 px).
    """
    ka, ks = jax.random.split(key)
    b = x.shape[0]
    apply = jax.random.uniform(ka, (b,)) < p
    if sigma_quirk:
        sx = jnp.full((b,), sigma[0], jnp.float32)
        sy = jnp.full((b,), sigma[1], jnp.float32)
    else:
        sx = sy = jax.random.uniform(ks, (b,), jnp.float32, sigma[0], sigma[1])
    blurred = jax.vmap(functools.partial(blur, kernel_size=kernel_size))(x, sx, sy)
    return jnp.where(_per_clip(apply, x), blurred, x)


def cutout(x: jax.Array, key: jax.Array, p: float = 1.0, max_size: int = 20,
           multiply_quirk: bool = False) -> jax.Array:
    """`Cutout(p, length=max_size, num_of_cutout=1, value=None)`: one square per clip.

    x: [B, T, H, W, 3] float32, normalised (the reference applies cutout after normalisation).
    With probability p per clip: length ~ randint(1, max_size) inclusive, centre (cy, cx)
    uniform over the pixels, rows clip(cy -+ length // 2, 0, H) (half-open), columns likewise:
    a square of side 2 * (length // 2) (0 for length 1), cut at the borders, the same on all
    frames. The fill value is the mean of the clip's FIRST frame over H, W and channels, after
    normalisation (`img.mean()` of `clip[:, 0]` in the reference). The patch is replaced by it
    (the paper), or multiplied by it with `multiply_quirk=True` (the reference code).
    """
    b, _, h, w, _ = x.shape
    ka, kl, ky, kx = jax.random.split(key, 4)
    apply = jax.random.uniform(ka, (b,)) < p
    half = jax.random.randint(kl, (b,), 1, max_size + 1) // 2
    cy = jax.random.randint(ky, (b,), 0, h)
    cx = jax.random.randint(kx, (b,), 0, w)
    rows = jnp.arange(h)[None, :]
    cols = jnp.arange(w)[None, :]
    in_rows = ((jnp.clip(cy - half, 0, h)[:, None] <= rows)
               & (rows < jnp.clip(cy + half, 0, h)[:, None]))               # [B, H]
    in_cols = ((jnp.clip(cx - half, 0, w)[:, None] <= cols)
               & (cols < jnp.clip(cx + half, 0, w)[:, None]))               # [B, W]
    mask = in_rows[:, :, None] & in_cols[:, None, :] & apply[:, None, None]  # [B, H, W]
    mask = mask[:, None, :, :, None]                                        # [B, 1, H, W, 1]
    value = _per_clip(jnp.mean(x[:, 0], axis=(1, 2, 3)), x)                 # [B, 1, 1, 1, 1]
    fill = x * value if multiply_quirk else value
    return jnp.where(mask, fill, x)


# --------------------------------------------------------------------------------------------
# Pipelines
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class VideoAugConfig:
    """On-device part of `StrongTransforms`; defaults are the CrissCross pretraining config
    (`vid_aug_kwargs` of `configs/pretext/kinetics400/crisscross.yaml`, crop 112).

    A probability of 0 (or `color_jitter=False`) removes the op from the graph.
    """
    color_jitter: bool = True
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.2
    p_gray: float = 0.2
    p_blur: float = 0.5
    blur_kernel_size: int = 11            # crop // 20 * 2 + 1
    blur_sigma: Tuple[float, float] = (0.1, 2.0)
    blur_sigma_quirk: bool = False
    p_cutout: float = 1.0
    cutout_max_size: int = 20
    cutout_multiply_quirk: bool = False
    normalize: bool = True
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self):
        for name in ("p_gray", "p_blur", "p_cutout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"VideoAugConfig.{name}={getattr(self, name)}: "
                                 "use a probability in [0, 1].")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"VideoAugConfig.hue={self.hue}: use a value in [0, 0.5].")
        if min(self.brightness, self.contrast, self.saturation) < 0:
            raise ValueError("VideoAugConfig.brightness/contrast/saturation must be >= 0.")
        if self.blur_kernel_size % 2 == 0 or self.blur_kernel_size < 1:
            raise ValueError(f"VideoAugConfig.blur_kernel_size={self.blur_kernel_size}: use an odd size "
                             "(the reference uses crop // 20 * 2 + 1).")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"VideoAugConfig.blur_sigma={self.blur_sigma}: "
                             "use (min, max) with 0 < min <= max.")
        if self.cutout_max_size < 1:
            raise ValueError(f"VideoAugConfig.cutout_max_size={self.cutout_max_size}: use a positive size.")


def video_augment(video: jax.Array, key: jax.Array, cfg: VideoAugConfig = VideoAugConfig()) -> jax.Array:
    """Training view: `video: [B, T, H, W, 3] uint8` -> `[B, T, H, W, 3] float32` (normalised).

    Order (reference): colour jitter -> greyscale -> blur -> /255 and normalise -> cutout. (The
    reference converts to [0, 1] after the blur; the colour ops here already run on [0, 1]
    floats, which is the same arithmetic up to uint8 rounding.) The key is split into a fixed
    set of sub-keys, so switching one op does not change the others' draws.
    """
    x = to_float(video)
    k_cj, k_gray, k_blur, k_cut = jax.random.split(key, 4)
    if cfg.color_jitter:
        x = color_jitter(x, k_cj, cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)
    if cfg.p_gray > 0:
        x = grayscale(x, k_gray, cfg.p_gray)
    if cfg.p_blur > 0:
        x = gaussian_blur(x, k_blur, cfg.p_blur, cfg.blur_kernel_size, cfg.blur_sigma,
                          cfg.blur_sigma_quirk)
    if cfg.normalize:
        x = normalize(x, cfg.mean, cfg.std)
    if cfg.p_cutout > 0:
        x = cutout(x, k_cut, cfg.p_cutout, cfg.cutout_max_size, cfg.cutout_multiply_quirk)
    return x


def video_eval(video: jax.Array, mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> jax.Array:
    """Evaluation view: `[B, T, H, W, 3] uint8` -> normalised `[B, T, H, W, 3] float32`."""
    return normalize(to_float(video), mean, std)
