"""Sound source localization: cIoU@0.5, mean cIoU and AUC of heatmaps against box ground truth.

Two published protocols, reproduced from the official code (host-side NumPy, float64):

| protocol | official code                      | upsampling of the raw map           | threshold       |
|----------|------------------------------------|-------------------------------------|-----------------|
| sspl     | SSPL / SACL `eval_cal_ciou`        | cv2.resize INTER_LINEAR             | 0.5 (fixed)     |
| ezvsl    | EZ-VSL / FNAC test.py, `Evaluator` | F.interpolate bilinear, align_c.=T  | the median      |
|          | (their train-time `validate`)      | F.interpolate bicubic, align_c.=F   |                 |

Both min-max normalise the upsampled map before thresholding.

Per image (both): `cIoU = sum(pred * gt) / (sum(gt) + sum(pred * [gt == 0]))`, with `gt` the
Flickr consensus map (0 / 0.5 / 1) or the VGG-SS box union (`avjax.data.localization_sets`).
Over the set: cIoU@0.5 = fraction of images with cIoU >= 0.5 (the papers' "cIoU", EZ-VSL's
"AP50"); AUC = trapezoid over x_k = 0.05 * k, k = 0..20 (as Python computes them, so
x_3 = 0.15000000000000002) of y_k = fraction of images with cIoU >= x_k (sklearn.metrics.auc).

Defined where the official code is not: a constant heatmap normalises to zeros (SSPL divides by
np.ptp = 0, gets NaNs and so predicts nothing; EZ-VSL skips the normalisation and its median
threshold selects everything; zeros give both outcomes); an image whose gt and prediction are
both empty has cIoU 0 (0 / 0 in the official code).
"""
from __future__ import annotations

import functools
import os
from typing import Sequence

import jax.numpy as jnp
import numpy as np

from avjax import audio

PROTOCOLS = {
    "sspl": {"resize": "bilinear", "threshold": 0.5},
    "ezvsl": {"resize": "bilinear_align_corners", "threshold": "median"},
}
RESIZES = ("bilinear", "bilinear_align_corners", "bicubic")
AUC_THRESHOLDS = [0.05 * k for k in range(21)]  # Python floats, exactly as the official lists
_CHUNK = 64  # images resized at once: bounds host memory for the 5k-image VGG-SS set


# --------------------------------------------------------------------------------------------
# Upsampling as an [out, in] interpolation matrix per axis (separable, so map = My @ h @ Mx^T)
# --------------------------------------------------------------------------------------------

def _linear_matrix(n_in: int, n_out: int, src: np.ndarray) -> np.ndarray:
    """Two-tap linear weights at source coordinates `src: [n_out]`, clamped to the edge pixels."""
    src = np.clip(src, 0.0, n_in - 1)
    left = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    frac = src - left
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(m, (rows, left), 1.0 - frac)
    np.add.at(m, (rows, np.minimum(left + 1, n_in - 1)), frac)
    return m


@functools.lru_cache(maxsize=16)  # one per (map size, method): every chunk of a test set reuses it
def interpolation_matrix(n_in: int, n_out: int, method: str) -> np.ndarray:
    """[n_out, n_in] float64 matrix M with `M @ x` = x resized along one axis by `method`:

    - "bilinear": cv2.resize(INTER_LINEAR): half-pixel centres, src = (o + 0.5) n_in / n_out - 0.5
      clamped to [0, n_in - 1]. For upsampling this is also torch bilinear align_corners=False and
      jax.image.resize "linear" (cv2 switches to INTER_AREA for an exact 2x shrink; heatmaps are
      only ever enlarged here).
    - "bilinear_align_corners": F.interpolate(mode="bilinear", align_corners=True):
      src = o (n_in - 1) / (n_out - 1).
    - "bicubic": F.interpolate(mode="bicubic", align_corners=False): torch's cubic convolution
      (A = -0.75, not jax.image.resize "cubic"), src not clamped, taps clamped to the edge.
    """
    o = np.arange(n_out)
    if method == "bilinear":
        m = _linear_matrix(n_in, n_out, (o + 0.5) * n_in / n_out - 0.5)
    elif method == "bilinear_align_corners":
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        m = _linear_matrix(n_in, n_out, o * scale)
    elif method == "bicubic":
        # The torch bicubic port of the audio front end; src = ((2o + 1) n_in - n_out) / (2 n_out).
        taps, weights = audio._cubic_taps(jnp.asarray((2 * o + 1) * n_in - n_out, jnp.int32), 2 * n_out, n_in - 1)
        m = np.asarray(audio._taps_to_matrix(taps, weights, n_in), np.float64)
    else:
        raise ValueError(f"resize={method!r}: choose one of {RESIZES}")
    m.setflags(write=False)  # cached and shared
    return m


def resize_maps(maps: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """[N, h, w] -> [N, size[0], size[1]] float64."""
    maps = np.asarray(maps, np.float64)
    rows = interpolation_matrix(maps.shape[-2], size[0], method)
    cols = interpolation_matrix(maps.shape[-1], size[1], method)
    # einsum(optimize) runs two BLAS matmuls; a broadcast `rows @ maps @ cols.T` is ~20x slower.
    return np.einsum("oh,nhw,pw->nop", rows, maps, cols, optimize=True)


def minmax_normalize(maps: np.ndarray) -> np.ndarray:
    """Per map to [0, 1]: [N, H, W] -> [N, H, W]; a constant map becomes zeros (not NaN)."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------

def _protocol(protocol: str, resize: str | None) -> tuple[str, float | str]:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol={protocol!r}: choose one of {sorted(PROTOCOLS)}")
    method = resize or PROTOCOLS[protocol]["resize"]
    if method not in RESIZES:
        raise ValueError(f"resize={method!r}: choose one of {RESIZES}")
    return method, PROTOCOLS[protocol]["threshold"]


def predicted_masks(heatmaps: np.ndarray, size: tuple[int, int], protocol: str = "sspl",
                    resize: str | None = None) -> np.ndarray:
    """Raw heatmaps [N, h, w] -> the protocol's binary predictions [N, size[0], size[1]] float64."""
    method, threshold = _protocol(protocol, resize)
    maps = minmax_normalize(resize_maps(heatmaps, size, method))
    if threshold == "median":
        # sort(h)[int(H * W * 0.5)], as the official code: np.partition finds the same element.
        flat = maps.reshape(len(maps), -1)
        kth = int(flat.shape[1] * 0.5)
        threshold = np.partition(flat, kth, axis=1)[:, kth].reshape(-1, 1, 1)
    return (maps >= threshold).astype(np.float64)


def ciou_per_image(heatmaps, gt_maps, protocol: str = "sspl", resize: str | None = None) -> np.ndarray:
    """heatmaps: [N, h, w] raw scores; gt_maps: [N, H, W] in [0, 1] (an array or a sequence of
    maps, read a chunk at a time). Returns [N] float64 cIoU."""
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim != 3 or len(heatmaps) != len(gt_maps):
        raise ValueError(f"heatmaps {heatmaps.shape} and gt_maps (length {len(gt_maps)}) must be "
                         "[N, h, w] and [N, H, W] with the same N")
    _protocol(protocol, resize)  # a bad name fails before any gt map is read
    out = np.zeros(len(heatmaps))
    for start in range(0, len(heatmaps), _CHUNK):
        gt = np.asarray(gt_maps[start:start + _CHUNK], np.float64)
        if gt.ndim != 3 or len(gt) != len(heatmaps[start:start + _CHUNK]):
            raise ValueError(f"gt_maps[{start}:{start + _CHUNK}] has shape {gt.shape}; expected [n, H, W] maps")
        pred = predicted_masks(heatmaps[start:start + _CHUNK], gt.shape[1:], protocol, resize)
        inter = np.sum(pred * gt, axis=(1, 2))
        union = np.sum(gt, axis=(1, 2)) + np.sum(pred * (gt == 0), axis=(1, 2))
        out[start:start + len(gt)] = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def summarize_ciou(cious: np.ndarray) -> dict[str, float]:
    """[N] per-image cIoU -> cIoU@0.5 (success rate), mean cIoU, AUC and the image count."""
    cious = np.asarray(cious, np.float64)
    if cious.size == 0:
        raise ValueError("no images to evaluate: the heatmaps and gt maps are empty")
    success = np.array([np.mean(cious >= t) for t in AUC_THRESHOLDS])
    x = np.array(AUC_THRESHOLDS)
    # sklearn.metrics.auc = np.trapz: sum of dx * (y_left + y_right) / 2.
    auc = float(np.sum(np.diff(x) * (success[1:] + success[:-1]) / 2.0))
    return {"ciou@0.5": float(np.mean(cious >= 0.5)), "mean_ciou": float(np.mean(cious)), "auc": auc,
            "num_images": int(cious.size)}


def localization_metrics(heatmaps, gt_maps, protocol: str = "sspl", resize: str | None = None) -> dict:
    """Localization metrics of raw heatmaps `[N, h, w]` against gt maps `[N, 224, 224]` in [0, 1].

    protocol "sspl" (SSPL / SACL) or "ezvsl" (EZ-VSL / FNAC); `resize` overrides the protocol's
    upsampling ("bilinear", "bilinear_align_corners", "bicubic"; EZ-VSL's train-time validation
    uses "bicubic"). Returns {"ciou@0.5", "mean_ciou", "auc", "num_images"}.
    """
    return summarize_ciou(ciou_per_image(heatmaps, gt_maps, protocol, resize))


# --------------------------------------------------------------------------------------------
# Overlays
# --------------------------------------------------------------------------------------------

def overlay(image: np.ndarray, heatmap: np.ndarray, boxes: np.ndarray | None = None,
            alpha: float = 0.5) -> np.ndarray:
    """image [H, W, 3] (uint8, or float in [0, 1]) + raw heatmap [h, w] -> [H, W, 3] uint8:
    the heatmap upsampled (cv2-style bilinear), min-max normalised, jet-coloured and blended with
    weight `alpha` (SSPL's Image.blend(img, jet, 0.5)); `boxes` [K, 4] (x1, y1, x2, y2) image
    pixels, end exclusive, are outlined in white."""
    from matplotlib import colormaps  # the metrics do not need matplotlib
    from PIL import Image, ImageDraw

    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    height, width = image.shape[:2]
    heat = minmax_normalize(resize_maps(np.asarray(heatmap)[None], (height, width), "bilinear"))[0]
    jet = colormaps["jet"](heat)[..., :3] * 255.0
    blended = np.round((1.0 - alpha) * image + alpha * jet).astype(np.uint8)
    if boxes is None or len(boxes) == 0:
        return blended
    canvas = Image.fromarray(blended)
    draw = ImageDraw.Draw(canvas)
    for x1, y1, x2, y2 in np.asarray(boxes, np.int64).reshape(-1, 4):
        draw.rectangle([int(x1), int(y1), int(x2) - 1, int(y2) - 1], outline=(255, 255, 255), width=2)
    return np.asarray(canvas)


def save_overlays(images: np.ndarray, heatmaps: np.ndarray, out_dir: str, names: Sequence[str] | None = None,
                  boxes: Sequence[np.ndarray | None] | None = None, alpha: float = 0.5) -> list[str]:
    """Writes `<out_dir>/<name>.png` for each image: images [N, H, W, 3], heatmaps [N, h, w] raw;
    `boxes[i]`: [K, 4] gt boxes in image pixels (e.g. `localization_sets` boxes on 224 images) or
    None. Returns the paths written."""
    from PIL import Image

    names = list(names) if names is not None else [f"{i:05d}" for i in range(len(images))]
    if not len(images) == len(heatmaps) == len(names) or (boxes is not None and len(boxes) != len(images)):
        raise ValueError(f"save_overlays: {len(images)} images, {len(heatmaps)} heatmaps, {len(names)} names"
                         + ("" if boxes is None else f", {len(boxes)} box lists") + ": give one of each per image")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = os.path.join(out_dir, f"{name}.png")
        Image.fromarray(overlay(images[i], heatmaps[i], None if boxes is None else boxes[i], alpha)).save(path)
        paths.append(path)
    return paths
