"""Data sources by name (`config.data.source`): the synthetic world now; shard readers plug in here.

Every source answers `__len__`, `label(i)`, `video(i, start, num_frames, fps)`,
`audio(i, start, num_samples)`, `video_duration(i)` and `audio_duration(i)` (seconds).
"""
from __future__ import annotations

from avjax.data import synthetic


class SyntheticSource(synthetic.SyntheticWorld):
    """The synthetic AV world as a clip source: every clip lasts `duration` in both streams."""

    def video_duration(self, i: int) -> float:
        return self.config.duration

    def audio_duration(self, i: int) -> float:
        return self.config.duration


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
