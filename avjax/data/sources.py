"""Data sources by name (`config.data.source`): "synthetic", "array_record" shards, "tfds".

A source is a random-access sequence of clips: `len(source)` and `source[i] -> Clip`. Reading a
clip is cheap (metadata only); media are decoded only for the windows asked for:

    clip.label: int                          clip.video_duration, clip.audio_duration: seconds
    clip.labels: float32 [num_classes]       multi-hot (one-hot for single-label data)
    clip.index: int                          its position in the source
    clip.video(start, num_frames, fps) -> uint8 [T, H, W, 3]   (frame k shows time start + k / fps)
    clip.audio(start, num_samples) -> float32 [S] in [-1, 1]   (zero past the end)

Stored sources (`avjax.data.records` clip records):

    config.data.source = "array_record"       config.data.path = the folder `avjax convert` wrote
    config.data.source = "tfds"               config.data.path = the TFDS data_dir,
                                              config.data.tfds_name = e.g. "avjax_kinetics400"
    config.data.splits = {"train": "train", "probe": "train[:5000]", "eval": "val"}

A split expression names shard sets (a split of the conversion, or an alias from its
manifest such as UCF101's "test1"), joined with "+", optionally sliced: "balanced_train+
unbalanced_train", "val[:2000]", "train[10%:]"; or, for array_record, a glob of shard files
relative to `path` ("kinetics/train.array_record-*"). A record that cannot be parsed gives a
`BadClip` (reading it raises `records.RecordError`), which the pipeline counts and skips.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from typing import Any, Sequence

import numpy as np

from avjax.data import records, synthetic


@dataclasses.dataclass(frozen=True)
class SyntheticClip:
    world: synthetic.SyntheticWorld
    index: int

    @property
    def label(self) -> int:
        return self.world.label(self.index)

    @property
    def labels(self) -> np.ndarray:
        out = np.zeros(synthetic.NUM_CLASSES, np.float32)
        out[self.label] = 1.0
        return out

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


# ---------------------------------------------------------------------------------------------
# Stored clip records (ArrayRecord shards, TFDS).
# ---------------------------------------------------------------------------------------------

class RecordClip:
    """A clip backed by a parsed `records.ClipRecord`: the SyntheticClip API plus `labels`."""

    __slots__ = ("record", "index", "num_classes")

    def __init__(self, record: records.ClipRecord, index: int, num_classes: int):
        self.record, self.index, self.num_classes = record, index, num_classes

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def label(self) -> int:
        return self.record.label

    @property
    def labels(self) -> np.ndarray:
        """float32 [num_classes]: multi-hot over the clip's labels."""
        return self.record.multi_hot(self.num_classes)

    @property
    def video_duration(self) -> float:
        return self.record.video_duration

    @property
    def audio_duration(self) -> float:
        return self.record.audio_duration

    def video(self, start: float, num_frames: int, fps: float) -> np.ndarray:
        return self.record.video(start, num_frames, fps)

    def audio(self, start: float, num_samples: int) -> np.ndarray:
        return self.record.audio(start, num_samples)


@dataclasses.dataclass(frozen=True)
class BadClip:
    """A record that could not be read: any access raises the error (the pipeline counts it)."""
    index: int
    error: str

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise records.RecordError(f"record {self.index}: {self.error}")


class RecordSource:
    """Clips from a random-access sequence of clip-record bytes (or of dicts with a "record" key)."""

    def __init__(self, reader: Sequence[Any], num_classes: int, name: str = ""):
        self.reader, self.num_classes, self.name = reader, int(num_classes), name

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int):
        i = int(i)
        try:
            data = self.reader[i]
            if isinstance(data, dict):
                data = data["record"]
            return RecordClip(records.ClipRecord(data), i, self.num_classes)
        except records.RecordError as e:
            return BadClip(i, str(e))

    def __repr__(self):
        return f"RecordSource({self.name!r}, {len(self)} clips)"


class _Slice:
    """source[start:stop] as a random-access sequence."""

    def __init__(self, seq: Sequence[Any], start: int, stop: int):
        self.seq, self.start, self.stop = seq, start, max(start, stop)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.seq[self.start + int(i)]


_EXPR = re.compile(r"^(?P<names>.+?)(\[(?P<a>-?[\d.]*%?):(?P<b>-?[\d.]*%?)\])?$")


def parse_split(expr: str) -> tuple[list[str], str | None, str | None]:
    """"a+b[:100]" -> (["a", "b"], None, "100"); the slice applies to the concatenation."""
    m = _EXPR.match(expr.strip())
    if m is None:
        raise ValueError(f"split {expr!r}: expected names joined by '+', optionally sliced as [a:b]")
    names = [n.strip() for n in m.group("names").split("+") if n.strip()]
    return names, m.group("a") or None, m.group("b") or None


def _bound(value: str | None, n: int, default: int) -> int:
    if value is None:
        return default
    v = round(float(value[:-1]) * n / 100) if value.endswith("%") else int(value)
    return min(max(v + n if v < 0 else v, 0), n)


def slice_source(seq: Sequence[Any], a: str | None, b: str | None) -> Sequence[Any]:
    if a is None and b is None:
        return seq
    n = len(seq)
    return _Slice(seq, _bound(a, n, 0), _bound(b, n, n))


def read_manifest(path: str) -> dict:
    """The manifest.json `avjax convert` wrote into `path` ({} if there is none)."""
    file = os.path.join(path, "manifest.json")
    if not os.path.exists(file):
        return {}
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def expand_aliases(names: list[str], aliases: dict[str, list[str]]) -> list[str]:
    out = []
    for n in names:
        out.extend(aliases.get(n, [n]))
    return out


def shard_files(path: str, names: list[str]) -> list[str]:
    """The shard files of the named shard sets (or globs) under `path`, in order."""
    files = []
    for name in names:
        pattern = name if any(c in name for c in "*?/") else f"{name}.array_record-*"
        found = sorted(f for f in glob.glob(os.path.join(path, pattern)) if not f.endswith(".tmp"))
        if not found:
            sets = sorted({os.path.basename(f).split(".array_record")[0]
                           for f in glob.glob(os.path.join(path, "*.array_record-*"))})
            raise FileNotFoundError(
                f"config.data.path={path!r}: no shard files for {name!r}; shard sets there: {sets} "
                "(write them with `avjax convert`, or fix config.data.splits)")
        files.extend(found)
    return files


def _split_expr(data_cfg, split: str) -> str:
    splits = data_cfg.get("splits", None) or {}
    default = {"train": "train", "probe": "train", "eval": "val"}
    if split in splits:
        return splits[split]
    if split in default:
        return default[split]
    return split


def _num_classes(data_cfg, manifest: dict) -> int:
    n = manifest.get("num_classes")
    if n is not None and data_cfg.get("num_classes", n) != n:
        raise ValueError(f"config.data.num_classes={data_cfg.num_classes} but the shards in "
                         f"{data_cfg.path} have {n} classes: set config.data.num_classes={n}")
    return int(n if n is not None else data_cfg.num_classes)


def array_record_source(data_cfg, split: str) -> RecordSource:
    import grain
    path = data_cfg.get("path", None)
    if not path:
        raise ValueError("config.data.path is empty: set it to the folder `avjax convert --out` wrote")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"config.data.path={path!r}: no such folder")
    manifest = read_manifest(path)
    expr = _split_expr(data_cfg, split)
    names, a, b = parse_split(expr)
    files = shard_files(path, expand_aliases(names, manifest.get("aliases", {})))
    reader = grain.sources.ArrayRecordDataSource(files)
    return RecordSource(slice_source(reader, a, b), _num_classes(data_cfg, manifest), f"{path}:{expr}")


def tfds_source(data_cfg, split: str) -> RecordSource:
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ValueError("config.data.source='tfds' needs tensorflow-datasets: pip install 'avjax[tfds]'") from e
    from avjax.data import tfds_builders  # noqa: F401  (registers the avjax builders)
    name = data_cfg.get("tfds_name", None)
    if not name:
        raise ValueError("config.data.tfds_name is empty: set it to a builder name such as 'avjax_kinetics400'")
    data_dir = data_cfg.get("path", None) or None
    builder = tfds.builder(name, data_dir=data_dir)
    meta = dict(builder.info.metadata or {})
    aliases = meta.get("aliases", {})
    expr = _split_expr(data_cfg, split)
    names, a, b = parse_split(expr)
    parts = expand_aliases(names, aliases)
    reader = builder.as_data_source(split="+".join(parts))
    num_classes = meta.get("num_classes")
    return RecordSource(slice_source(reader, a, b),
                        _num_classes(data_cfg, {"num_classes": num_classes} if num_classes else {}),
                        f"tfds:{name}:{expr}")


def configure_stored(data, *, num_classes: int, tfds_name: str, splits: dict[str, str],
                     multi_label: bool = False, source: str = "array_record", path: str = "") -> None:
    """Set the `config.data` fields a stored source reads (the real-data configs use this)."""
    if source not in ("array_record", "tfds"):
        raise ValueError(f"data={source!r}: use array_record or tfds")
    data.source = source
    data.path = path
    data.tfds_name = tfds_name
    data.num_classes = num_classes
    data.multi_label = multi_label
    data.splits = dict(splits)


SPLIT_SIZES = {"train": "num_train", "eval": "num_eval", "probe": "num_probe"}


def get_source(data_cfg, split: str):
    """`split` is "train" (pretraining clips), "probe" (labelled clips to fit linear probes on) or
    "eval" (held-out clips); stored sources map it through `config.data.splits` (any other name is
    taken as a split expression itself)."""
    if data_cfg.source == "synthetic":
        if split not in SPLIT_SIZES:
            raise ValueError(f"split {split!r}: the synthetic source has {tuple(SPLIT_SIZES)}")
        # The probe set is drawn from the training distribution but is a separate rng stream.
        world_split = {"train": "train", "probe": "test", "eval": "eval"}[split]
        return SyntheticSource(synthetic.WorldConfig(
            num_clips=int(data_cfg[SPLIT_SIZES[split]]), seed=data_cfg.world_seed, split=world_split,
            duration=data_cfg.duration, fps=data_cfg.native_fps, size=data_cfg.frame_size,
            sample_rate=data_cfg.sample_rate, max_distractors=data_cfg.get("max_distractors", 2)))
    if data_cfg.source == "array_record":
        return array_record_source(data_cfg, split)
    if data_cfg.source == "tfds":
        return tfds_source(data_cfg, split)
    raise ValueError(f"config.data.source={data_cfg.source!r}: use 'synthetic', 'array_record' or 'tfds'")
