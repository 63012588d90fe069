"""Data sources by name (`config.data.source`): the synthetic world now; shard readers plug in here.

A source is a random-access sequence of clips: `len(source)` and `source[i] -> Clip`. Reading a
clip is cheap (metadata only); media are decoded only for the windows asked for:

    clip.label: int                          clip.video_duration, clip.audio_duration: seconds
    clip.video(start, num_frames, fps) -> uint8 [T, H, W, 3]   (frame k shows time start + k / fps)
    clip.audio(start, num_samples) -> float32 [S] in [-1, 1]   (zero past the end)
"""
from __future__ import annotations

import dataclasses

from avjax.data import synthetic


@dataclasses.dataclass(frozen=True)
class SyntheticClip:
    world: synthetic.SyntheticWorld
    index: int

    @property
    def label(self) -> int:
        return self.world.label(self.index)

    @property
    def video_duration(self) -> float:
        return self.world.config.duration

    audio_duration = video_duration

    def video(self, start: float, num_frames: int, fps: float):
        return self.world.video(self.index, start, num_frames, fps)

    def audio(self, start: float, num_samples: int):
        return self.world.audio(self.index, start, num_samples)


class SyntheticSource:
    """The synthetic AV world as a clip source."""

    def __init__(self, config: synthetic.WorldConfig):
        self.world = synthetic.SyntheticWorld(config)

    def __len__(self) -> int:
        return len(self.world)

    def __getitem__(self, i: int) -> SyntheticClip:
        return SyntheticClip(self.world, int(i))


SPLIT_SIZES = {"train": "num_train", "eval": "num_eval", "probe": "num_probe"}


def get_source(data_cfg, split: str):
    """`split` is "train" (pretraining clips), "probe" (labelled clips to fit linear probes on) or
    "eval" (held-out clips)."""
    if data_cfg.source == "synthetic":
        if split not in SPLIT_SIZES:
            raise ValueError(f"split {split!r}: the synthetic source has {tuple(SPLIT_SIZES)}")
        # The probe set is drawn from the training distribution but is a separate rng stream.
        world_split = {"train": "train", "probe": "test", "eval": "eval"}[split]
        return SyntheticSource(synthetic.WorldConfig(
            num_clips=int(data_cfg[SPLIT_SIZES[split]]), seed=data_cfg.world_seed, split=world_split,
            duration=data_cfg.duration, fps=data_cfg.native_fps, size=data_cfg.frame_size,
            sample_rate=data_cfg.sample_rate))
    raise ValueError(f"config.data.source={data_cfg.source!r}: use 'synthetic'")
