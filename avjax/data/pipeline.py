"""The host side of the input pipeline, built from config with Grain.

Training (two views per clip, as CrissCross wants them):

    MapDataset.range(len(source)) -> seed -> shuffle -> repeat -> [process_index::process_count]
      -> random_map(relaxed temporal crop -> fetch ONLY the chosen frames / samples
                    -> random resized crop + flip on uint8)
      -> batch(per-process batch) -> to_iter_dataset(ReadOptions) -> mp_prefetch (if workers > 0)

Evaluation: every clip once, in order, one deterministic window per clip (centred), each process
takes its slice and pads the last batch with `mask = 0`, so every process runs the same number of
batches.

A source is a random-access sequence of clips (`avjax.data.sources`): `source[i]` reads metadata
only, and `clip.video(start, num_frames, fps)` / `clip.audio(start, num_samples)` decode just the
windows asked for.
Colour augmentation, log-mel and SpecAugment run on the device (`avjax.video`, `avjax.audio`).
"""
from __future__ import annotations

import dataclasses
import math

import grain
import numpy as np
from PIL import Image

from avjax.data import sources, temporal


# ---------------------------------------------------------------------------------------------
# Host-side uint8 geometry: torchvision RandomResizedCrop / Resize+CenterCrop semantics.
# ---------------------------------------------------------------------------------------------

def random_resized_crop_box(rng: np.random.Generator, height: int, width: int,
                            scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """torchvision `RandomResizedCrop.get_params`: (top, left, h, w), 10 tries then a centre crop."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _resize(frame: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    top, left, h, w = box
    img = Image.fromarray(frame)
    return np.asarray(img.resize((size[1], size[0]), Image.BILINEAR, box=(left, top, left + w, top + h)))


def crop_frames(frames: np.ndarray, box, size: int, flip: bool) -> np.ndarray:
    """uint8 [T, H, W, 3] -> uint8 [T, size, size, 3]: one box for the whole clip."""
    out = np.stack([_resize(f, box, (size, size)) for f in frames])
    return out[:, :, ::-1] if flip else out


def random_crop_flip(frames: np.ndarray, rng: np.random.Generator, size: int, scale, flip_p=0.5):
    box = random_resized_crop_box(rng, frames.shape[1], frames.shape[2], scale=scale)
    return crop_frames(frames, box, size, bool(rng.random() < flip_p))


def center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """Validation transform: Resize(short side -> floor(size / 0.875)) then CenterCrop(size)."""
    h, w = frames.shape[1:3]
    short = int(size / 0.875)
    scale = short / min(h, w)
    rh, rw = max(size, round(h * scale)), max(size, round(w * scale))
    # Resize the whole frame, then take the centre box of the resized frame, in one PIL call.
    top, left = (rh - size) / 2 / scale, (rw - size) / 2 / scale
    box = (int(round(top)), int(round(left)), int(round(size / scale)), int(round(size / scale)))
    return crop_frames(frames, box, size, flip=False)


# ---------------------------------------------------------------------------------------------
# Per-clip transforms (run inside Grain workers).
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """What one view holds: `num_frames` at `fps`, `audio_seconds` at `sample_rate`."""
    num_frames: int
    fps: float
    crop_size: int
    audio_seconds: float
    sample_rate: int
    crop_scale: tuple[float, float] = (0.08, 1.0)

    @property
    def video_seconds(self) -> float:
        return self.num_frames / self.fps

    @property
    def num_samples(self) -> int:
        return int(round(self.audio_seconds * self.sample_rate))

    @classmethod
    def from_config(cls, config) -> "ClipSpec":
        return cls(num_frames=config.video.num_frames, fps=config.video.fps,
                   crop_size=config.video.crop_size, audio_seconds=config.audio.seconds,
                   sample_rate=config.audio.sample_rate, crop_scale=tuple(config.video.crop_scale))


class TwoViewSample:
    """clip -> {video1, video2: uint8 [T, S, S, 3], audio1, audio2: float32 [N], label: int32}."""

    def __init__(self, spec: ClipSpec, scheme: str):
        if scheme not in temporal.SCHEMES:
            raise ValueError(f"config.data.temporal_scheme={scheme!r}: use one of {temporal.SCHEMES}")
        self.spec, self.scheme = spec, scheme

    def __call__(self, clip, rng: np.random.Generator) -> dict:
        s = self.spec
        starts = temporal.sample_views(rng, self.scheme, s.video_seconds, s.audio_seconds,
                                       clip.video_duration, clip.audio_duration)
        out = {"label": np.int32(clip.label)}
        for view in (0, 1):
            frames = clip.video(starts.video[view], s.num_frames, s.fps)
            out[f"video{view + 1}"] = random_crop_flip(frames, rng, s.crop_size, s.crop_scale)
            out[f"audio{view + 1}"] = clip.audio(starts.audio[view], s.num_samples)
        return out


class CenteredSample:
    """(index, clip) -> {video: uint8 [T, S, S, 3], audio: float32 [N], label, index, mask}.

    Centred windows; the video window is centred inside the centred audio window (so it lies
    inside it, as in training).
    """

    def __init__(self, spec: ClipSpec):
        self.spec = spec

    def __call__(self, index: int, clip) -> dict:
        s = self.spec
        a_start = max(0.0, (clip.audio_duration - s.audio_seconds) / 2)
        v_start = max(0.0, (clip.video_duration - s.video_seconds) / 2)
        return {"video": center_crop(clip.video(v_start, s.num_frames, s.fps), s.crop_size),
                "audio": clip.audio(a_start, s.num_samples),
                "label": np.int32(clip.label), "index": np.int32(index), "mask": np.float32(1)}


# ---------------------------------------------------------------------------------------------
# Datasets.
# ---------------------------------------------------------------------------------------------

def train_dataset(config, process_index: int, process_count: int, batch_size: int) -> grain.IterDataset:
    """The infinite training stream of this process; `batch_size` is the per-process batch."""
    source = sources.get_source(config.data, "train")
    ds = grain.MapDataset.source(source).seed(config.seed).shuffle().repeat(None)
    ds = ds[process_index::process_count]
    ds = ds.random_map(TwoViewSample(ClipSpec.from_config(config), config.data.temporal_scheme))
    ds = ds.batch(batch_size, drop_remainder=True)
    it = ds.to_iter_dataset(grain.ReadOptions(num_threads=config.data.num_threads,
                                               prefetch_buffer_size=config.data.prefetch))
    if config.data.num_workers > 0:
        it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=config.data.num_workers))
    return it


def eval_batches(config, split: str, num_clips: int | None, batch_size: int,
                 process_index: int = 0, process_count: int = 1):
    """Yields per-process batches of centred clips; the last one padded with `mask = 0`.

    Every process yields the same number of batches (ceil(n / process_count / batch_size)).
    """
    source = sources.get_source(config.data, split)
    n = len(source) if num_clips is None else min(num_clips, len(source))
    per_process = -(-n // process_count)
    num_batches = -(-per_process // batch_size)
    sample = CenteredSample(ClipSpec.from_config(config))
    mine = range(process_index, n, process_count)
    for b in range(num_batches):
        items = [sample(i, source[i]) for i in mine[b * batch_size:(b + 1) * batch_size]]
        if not items:  # this process ran out of clips: a whole padding batch
            items = [_padding(sample(0, source[0]))]
        items += [_padding(items[0])] * (batch_size - len(items))
        yield {k: np.stack([it[k] for it in items]) for k in items[0]}


def _padding(item: dict) -> dict:
    out = {k: np.zeros_like(v) for k, v in item.items()}
    out["index"] = np.int32(-1)
    return out
