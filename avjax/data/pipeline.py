"""The host side of the input pipeline, built from config with Grain.

Training (two views per clip, as CrissCross wants them; `config.data.views = 1`: one view per clip,
`OneViewSample`, for supervised finetuning):

    MapDataset.source(source) -> seed -> shuffle -> repeat
      -> random_map(relaxed temporal crop -> fetch ONLY the chosen frames / samples
                    -> random resized crop + flip on uint8)
      -> batch(per-process batch) -> [process_index::process_count]
      -> to_iter_dataset(ReadOptions) -> mp_prefetch (if workers > 0)
      -> count bad records (in this process)

Global batch `b` is the stream's elements [b * G, (b + 1) * G) (G the global batch), in order,
and process `p` of P holds the block p of it: the same examples, the same augmentation (seeded
by the element's global index) and the same order whatever the process count.

A record that cannot be read (`records.RecordError`: a corrupt shard entry, a broken JPEG) is
replaced by the next good record of the source, and counted: every example carries how many it
replaced, and the last stage (in the training process, after `mp_prefetch`) adds them up in
`BAD_RECORDS` and logs a warning whenever the count grows. Nothing is lost silently and a long
job never dies of one bad record.

With `config.data.multi_label` (AudioSet) the batch also holds `labels`: float32 [B, num_classes].

Evaluation: every clip of the split, `config.eval.clips_per_video` windows each (default 1:
centred; K > 1: K uniformly spaced windows over the video, the audio window centred on each
video window, as the official 10-clip test), in order. Each process takes its slice of the
(clip, window) items and pads the last batch with `mask = 0`, so every process runs the same
number of batches; `index` is the clip, `clip` the window. A record that cannot be read is
masked out and counted. Decoding runs on `config.data.num_threads` Grain reader threads.

A source is a random-access sequence of clips (`avjax.data.sources`): `source[i]` reads metadata
only, and `clip.video(start, num_frames, fps)` / `clip.audio(start, num_samples)` decode just the
windows asked for.
Colour augmentation, log-mel and SpecAugment run on the device (`avjax.video`, `avjax.audio`).
"""
from __future__ import annotations

import dataclasses
import logging
import math

import grain
import numpy as np
from PIL import Image

from avjax.data import records, sources, temporal

log = logging.getLogger("avjax.data")

# How many consecutive unreadable records a training example may skip before the job stops
# (that many in a row means the data, not one record, is broken).
MAX_CONSECUTIVE_BAD = 64


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


def _video_or_blank(clip, start: float, num_frames: int, fps: float, size: int) -> np.ndarray | None:
    """The frames, or None for a clip without video (audio-only data): the caller blanks them."""
    if clip.video_duration <= 0:
        return None
    return clip.video(start, num_frames, fps)


class TwoViewSample:
    """clip -> {video1, video2: uint8 [T, S, S, 3], audio1, audio2: float32 [N], label: int32,
    bad_records: int32 (+ labels: float32 [C] when multi_label)}.

    `source` (optional) is where a replacement comes from when the clip's record cannot be read:
    the next index, wrapping around, until a good one (counted in `bad_records`).
    """

    def __init__(self, spec: ClipSpec, scheme: str, source=None, multi_label: bool = False):
        if scheme not in temporal.SCHEMES:
            raise ValueError(f"config.data.temporal_scheme={scheme!r}: use one of {temporal.SCHEMES}")
        self.spec, self.scheme, self.source, self.multi_label = spec, scheme, source, multi_label

    def sample(self, clip, rng: np.random.Generator) -> dict:
        s = self.spec
        starts = temporal.sample_views(rng, self.scheme, s.video_seconds, s.audio_seconds,
                                       max(clip.video_duration, 1e-6), max(clip.audio_duration, 1e-6))
        out = {"label": np.int32(clip.label)}
        if self.multi_label:
            out["labels"] = np.asarray(clip.labels, np.float32)
        for view in (0, 1):
            frames = _video_or_blank(clip, starts.video[view], s.num_frames, s.fps, s.crop_size)
            if frames is None:
                out[f"video{view + 1}"] = np.zeros((s.num_frames, s.crop_size, s.crop_size, 3), np.uint8)
                rng.random(4)  # keep the rng stream independent of the stream's presence
            else:
                out[f"video{view + 1}"] = random_crop_flip(frames, rng, s.crop_size, s.crop_scale)
            out[f"audio{view + 1}"] = clip.audio(starts.audio[view], s.num_samples)
        return out

    def __call__(self, clip, rng: np.random.Generator) -> dict:
        bad = 0
        while True:
            try:
                out = self.sample(clip, rng)
                out["bad_records"] = np.int32(bad)
                return out
            except records.RecordError as e:
                bad += 1
                index = getattr(clip, "index", None)
                log.warning("skipping bad record %s (%s); %d in a row", index, e, bad)
                if self.source is None or index is None or bad >= MAX_CONSECUTIVE_BAD:
                    raise RuntimeError(f"{bad} unreadable records in a row (last: {index}: {e}); "
                                       "check the shards (avjax convert writes a manifest.json)") from e
                clip = self.source[(index + 1) % len(self.source)]


class OneViewSample(TwoViewSample):
    """clip -> {video: uint8 [T, S, S, 3], label: int32, bad_records: int32 (+ audio: float32 [N]
    when the spec has audio, labels when multi_label)}: one random window per clip, for supervised
    finetuning (`config.data.views = 1`).

    The video window starts uniformly over the clip (a random clip of the video, as the official
    finetuning loader); the audio window, if any, is centred on it. Crop and flip as in pretraining.
    Unreadable records are replaced and counted as in `TwoViewSample`.
    """

    def __init__(self, spec: ClipSpec, source=None, multi_label: bool = False):
        self.spec, self.scheme, self.source, self.multi_label = spec, None, source, multi_label

    def sample(self, clip, rng: np.random.Generator) -> dict:
        s = self.spec
        out = {"label": np.int32(clip.label)}
        if self.multi_label:
            out["labels"] = np.asarray(clip.labels, np.float32)
        start = float(rng.uniform(0.0, max(clip.video_duration - s.video_seconds, 0.0)))
        frames = _video_or_blank(clip, start, s.num_frames, s.fps, s.crop_size)
        if frames is None:
            out["video"] = np.zeros((s.num_frames, s.crop_size, s.crop_size, 3), np.uint8)
        else:
            out["video"] = random_crop_flip(frames, rng, s.crop_size, s.crop_scale)
        if s.num_samples > 0:
            a_start = min(max(start + s.video_seconds / 2 - s.audio_seconds / 2, 0.0),
                          max(clip.audio_duration - s.audio_seconds, 0.0))
            out["audio"] = clip.audio(a_start, s.num_samples)
        return out


class BadRecordCounter:
    """Pops `bad_records` from each batch (in the training process) and keeps the running total."""

    def __init__(self):
        self.total = 0

    def __call__(self, batch: dict) -> dict:
        bad = batch.pop("bad_records", None)
        n = int(np.sum(bad)) if bad is not None else 0
        if n:
            self.total += n
            BAD_RECORDS["total"] += n
            log.warning("data: %d unreadable records replaced in this batch, %d so far", n, BAD_RECORDS["total"])
        return batch


BAD_RECORDS = {"total": 0}  # unreadable training records replaced so far, in this process


def eval_windows(clip, spec: ClipSpec, clips_per_video: int) -> list[tuple[float, float]]:
    """[(video_start, audio_start)] for `clips_per_video` uniformly spaced windows.

    The windows spread over the video (over the audio for audio-only clips); each audio window is
    centred on its video window and kept inside the audio stream. One window: the centred one.
    """
    d_v, d_a = spec.video_seconds, spec.audio_seconds
    T_v, T_a = clip.video_duration, clip.audio_duration
    k = np.arange(clips_per_video)
    frac = k / (clips_per_video - 1) if clips_per_video > 1 else np.full(1, 0.5)
    if T_v > 0:
        v = frac * max(T_v - d_v, 0.0)
        a = np.clip(v + d_v / 2 - d_a / 2, 0.0, max(T_a - d_a, 0.0))
    else:
        a = frac * max(T_a - d_a, 0.0)
        v = np.zeros_like(a)
    return [(float(x), float(y)) for x, y in zip(v, a)]


class EvalSample:
    """(clip index, window) -> {video: uint8 [T, S, S, 3], audio: float32 [N], label, index, clip,
    mask (+ labels)}; index -1 is padding (mask 0), as is a record that cannot be read."""

    def __init__(self, spec: ClipSpec, source, clips_per_video: int = 1, multi_label: bool = False,
                 num_classes: int = 0):
        self.spec, self.source, self.k = spec, source, clips_per_video
        self.multi_label, self.num_classes = multi_label, num_classes

    def padding(self) -> dict:
        s = self.spec
        out = {"video": np.zeros((s.num_frames, s.crop_size, s.crop_size, 3), np.uint8),
               "audio": np.zeros(s.num_samples, np.float32), "label": np.int32(0), "index": np.int32(-1),
               "clip": np.int32(0), "mask": np.float32(0), "bad_records": np.int32(0)}
        if self.multi_label:
            out["labels"] = np.zeros(self.num_classes, np.float32)
        return out

    def __call__(self, item: int) -> dict:
        if item < 0:
            return self.padding()
        index, window = divmod(int(item), self.k)
        s = self.spec
        try:
            clip = self.source[index]
            v_start, a_start = eval_windows(clip, s, self.k)[window]
            frames = _video_or_blank(clip, v_start, s.num_frames, s.fps, s.crop_size)
            out = {"video": (center_crop(frames, s.crop_size) if frames is not None else
                             np.zeros((s.num_frames, s.crop_size, s.crop_size, 3), np.uint8)),
                   "audio": clip.audio(a_start, s.num_samples),
                   "label": np.int32(clip.label), "index": np.int32(index), "clip": np.int32(window),
                   "mask": np.float32(1), "bad_records": np.int32(0)}
            if self.multi_label:
                out["labels"] = np.asarray(clip.labels, np.float32)
            return out
        except records.RecordError as e:
            log.warning("eval: bad record %d masked out (%s)", index, e)
            return dict(self.padding(), bad_records=np.int32(1))


# ---------------------------------------------------------------------------------------------
# Datasets.
# ---------------------------------------------------------------------------------------------

def train_dataset(config, process_index: int, process_count: int, batch_size: int) -> grain.IterDataset:
    """The infinite training stream of this process; `batch_size` is the per-process batch."""
    if config.data.get("kind", "clips") == "frame_audio":  # one frame + audio per clip (SSPL / SACL)
        from avjax.data import localization_train
        return localization_train.train_dataset(config, process_index, process_count, batch_size)
    source = sources.get_source(config.data, "train")
    if len(source) == 0:
        raise ValueError(f"config.data: the training split of {config.data.source!r} is empty")
    ds = grain.MapDataset.source(source).seed(config.seed).shuffle().repeat(None)
    spec, multi_label = ClipSpec.from_config(config), bool(config.data.get("multi_label", False))
    views = int(config.data.get("views", 2))
    if views == 1:
        ds = ds.random_map(OneViewSample(spec, source, multi_label))
    elif views == 2:
        ds = ds.random_map(TwoViewSample(spec, config.data.temporal_scheme, source, multi_label))
    else:
        raise ValueError(f"config.data.views={views}: use 2 (two views per clip, self-supervised) "
                         "or 1 (one view, supervised finetuning)")
    # Per-process batches in turn: process p's batch of global step s is batch s * P + p (lazy).
    ds = ds.batch(batch_size, drop_remainder=True)[process_index::process_count]
    it = ds.to_iter_dataset(grain.ReadOptions(num_threads=config.data.num_threads,
                                               prefetch_buffer_size=config.data.prefetch))
    if config.data.num_workers > 0:
        _absl_flags_parsed()
        it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=config.data.num_workers))
    return it.map(BadRecordCounter())


def _absl_flags_parsed() -> None:
    """Grain's worker processes read absl flags; a program that never parsed them (the avjax CLI
    uses argparse) would fail with UnparsedFlagAccessError: take the defaults."""
    from absl import flags
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def eval_batches(config, split: str, num_clips: int | None, batch_size: int,
                 process_index: int = 0, process_count: int = 1):
    """Yields per-process batches of `config.eval.clips_per_video` windows per clip; the last one
    padded with `mask = 0`.

    Every process yields the same number of batches (ceil(n * K / process_count / batch_size)).
    """
    if config.data.get("kind", "clips") == "frame_audio":  # one frame + audio per clip (SSPL / SACL)
        from avjax.data import localization_train
        yield from localization_train.eval_batches(config, split, num_clips, batch_size, process_index,
                                                   process_count)
        return
    source = sources.get_source(config.data, split)
    n = len(source) if num_clips is None else min(num_clips, len(source))
    k = int(config.get("eval", {}).get("clips_per_video", 1) or 1)
    items = n * k
    per_process = -(-items // process_count)
    num_batches = -(-per_process // batch_size)
    mine = list(range(process_index, items, process_count))
    mine += [-1] * (num_batches * batch_size - len(mine))
    multi_label = bool(config.data.get("multi_label", False))
    sample = EvalSample(ClipSpec.from_config(config), source, k, multi_label,
                        int(config.data.get("num_classes", 0)))
    ds = grain.MapDataset.source(mine).map(sample).batch(batch_size)
    it = ds.to_iter_dataset(grain.ReadOptions(num_threads=max(1, config.data.num_threads),
                                               prefetch_buffer_size=max(1, config.data.prefetch)))
    counter = BadRecordCounter()
    for batch in it:
        yield counter(batch)
