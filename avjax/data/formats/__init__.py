"""Dataset layouts: one module per dataset, each turning the user's files + metadata into a listing.

A format module exposes `list_items(src, meta=None, classes=None) -> Listing`: every input file with
its id, its split (the shard set it is written to), its label(s) and, where the metadata gives one,
the segment of the file to keep. `avjax.data.convert` and `avjax.data.tfds_builders` consume it.

Datasets with overlapping evaluation splits (UCF101 / HMDB51's three train/test splits, ESC-50's
five folds) write each video once, into disjoint parts, and name the splits as unions of parts in
`Listing.aliases` (e.g. UCF101 "test1" = ["g01-07"]); the manifest keeps them and the sources
resolve them (`avjax.data.sources`).

| format         | files                                  | metadata (--meta)                                  |
|----------------|----------------------------------------|----------------------------------------------------|
| kinetics       | any tree of videos (<ytid>[_s_e].mp4)  | the K400 CSVs (or JSONs), or a <split>/<class>/ tree |
| kinetics_sound | same                                   | same; kept: the 32 Kinetics-Sound classes          |
| audioset       | any tree of videos (<ytid>*.mp4)       | *_segments.csv (527 classes, multi-label)          |
| vggsound       | any tree of videos (<ytid>*.mp4)       | vggsound.csv                                       |
| esc50          | ESC-50 root (audio/*.wav)              | meta/esc50.csv (5 folds)                           |
| ucf101         | UCF-101/<class>/*.avi                  | ucfTrainTestlist/ (3 splits)                       |
| hmdb51         | hmdb51/<class>/*.avi                   | the *_test_split{1,2,3}.txt folder (3 splits)      |
| dcase          | scenes_stereo[_testset]/*.wav          | none (5 stratified folds of the development set)   |
| folder         | <root>[/<split>]/<class>/*.<media>     | none                                               |
"""
from __future__ import annotations

import csv
import dataclasses
import importlib
import os
from typing import Iterable

FORMATS = ("kinetics", "kinetics_sound", "audioset", "vggsound", "esc50", "ucf101", "hmdb51", "dcase",
           "folder")

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".3gp")
AUDIO_EXTS = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".opus")
MEDIA_EXTS = VIDEO_EXTS + AUDIO_EXTS

SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val",
               "validation": "val", "test": "test", "testing": "test", "eval": "eval"}


@dataclasses.dataclass
class Item:
    """One input file. `split` is the shard set it goes to; `labels` are class indices (the first is
    the clip's `label`); `segment` = (start, end) seconds to keep when the file is a full-length
    source video (a file no longer than the segment is taken whole)."""
    path: str
    id: str
    split: str
    labels: tuple[int, ...] = ()
    segment: tuple[float, float] | None = None
    meta: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Listing:
    """What a format found: the items, the class names, and what is missing.

    needs_video / needs_audio: an input without that stream is skipped ("no_video" / "no_audio");
    otherwise the record simply holds no frames / no samples.
    missing: (id, reason) for metadata rows whose file was not found.
    """
    format: str
    items: list[Item]
    class_names: list[str]
    multi_label: bool = False
    needs_video: bool = True
    needs_audio: bool = True
    aliases: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    missing: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def splits(self) -> list[str]:
        return sorted({it.split for it in self.items})


def get(name: str):
    """The format module by name."""
    if name not in FORMATS:
        raise ValueError(f"--format {name!r}: use one of {', '.join(FORMATS)}")
    return importlib.import_module(f"avjax.data.formats.{name}")


def list_items(name: str, src: str, meta: str | None = None, classes: str | None = None) -> Listing:
    if not os.path.isdir(src):
        raise FileNotFoundError(f"--src {src}: no such folder (the folder holding the dataset's media files)")
    if meta is not None and not os.path.exists(meta):
        raise FileNotFoundError(f"--meta {meta}: no such file or folder")
    if classes is not None and not os.path.isfile(classes):
        raise FileNotFoundError(f"--classes {classes}: no such file")
    listing = get(name).list_items(src, meta=meta, classes=classes)
    if not listing.items:
        raise ValueError(f"--format {name} --src {src}: no input files found"
                         + (f" ({len(listing.missing)} metadata rows without a file)" if listing.missing else ""))
    return listing


# ---------------------------------------------------------------------------------------------
# Helpers shared by the format modules.
# ---------------------------------------------------------------------------------------------

def walk_media(root: str, exts: Iterable[str] = MEDIA_EXTS) -> list[str]:
    """Every media file under `root`, sorted."""
    exts = tuple(e.lower() for e in exts)
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f.lower().endswith(exts)
                   and not f.startswith("."))
    return out


def stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


class YoutubeIndex:
    """Finds a YouTube clip's file whatever the downloader named it: `<ytid>.mp4`, `Y<ytid>.mp4`,
    `<ytid>_<start>_<end>.mp4`, `<ytid>_000030.mp4`, ... (YouTube ids are 11 characters)."""

    def __init__(self, root: str, exts: Iterable[str] = MEDIA_EXTS):
        self.by_stem: dict[str, str] = {}
        self.by_id: dict[str, list[str]] = {}
        for path in walk_media(root, exts):
            s = stem(path)
            self.by_stem.setdefault(s, path)
            for yt in {s[:11], s[1:12] if s.startswith("Y") else None} - {None}:
                if len(yt) == 11:
                    self.by_id.setdefault(yt, []).append(path)

    def find(self, ytid: str, start: float | None = None, end: float | None = None) -> str | None:
        cands = [ytid, f"Y{ytid}"]
        if start is not None:
            s, e = int(round(start)), int(round(end)) if end is not None else None
            cands += [f"{ytid}_{s:06d}", f"{ytid}_{s}", f"{ytid}_{start}", f"Y{ytid}_{start:.3f}"]
            if e is not None:
                cands += [f"{ytid}_{s:06d}_{e:06d}", f"{ytid}_{s}_{e}", f"{ytid}_{start}_{end}",
                          f"Y{ytid}_{start:.3f}_{end:.3f}"]
        for c in cands:
            if c in self.by_stem:
                return self.by_stem[c]
        paths = self.by_id.get(ytid, [])
        if len(paths) == 1 or (paths and start is None):
            return paths[0]
        if paths:  # several files of one video: the one whose name holds the start second
            tag = f"{int(round(start)):06d}"
            for p in paths:
                if tag in stem(p) or f"_{int(round(start))}" in stem(p):
                    return p
        return None


def read_csv_rows(path: str, skip_comments: bool = True) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        lines = (line for line in f if not (skip_comments and line.lstrip().startswith("#")) and line.strip())
        return [[c.strip() for c in row] for row in csv.reader(lines, skipinitialspace=True)]


def read_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


def read_class_list(path: str) -> list[str]:
    """One class name a line (a text file), or a CSV with a `display_name` / `name` column."""
    if path.endswith(".csv"):
        rows = read_csv_rows(path)
        head = [h.lower() for h in rows[0]]
        col = next((head.index(c) for c in ("display_name", "name", "class", "label") if c in head), None)
        if col is None:
            raise ValueError(f"--classes {path}: a CSV needs a display_name / name column")
        return [r[col] for r in rows[1:]]
    return read_lines(path)


def package_file(name: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)


def class_index(names: list[str], what: str) -> dict[str, int]:
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{what}: duplicate class names {dup[:5]}")
    return {n: i for i, n in enumerate(names)}


def folder_tree(root: str, exts=MEDIA_EXTS) -> tuple[list[tuple[str, str, str]], list[str]]:
    """`root/<class>/*` or `root/<split>/<class>/*` -> ([(path, split, class)], sorted class names).

    The split level is recognised when every top-level folder is a split name (train, val, ...)."""
    tops = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    has_splits = bool(tops) and all(t.lower() in SPLIT_NAMES for t in tops)
    entries = []
    for top in tops:
        if has_splits:
            split = SPLIT_NAMES[top.lower()]
            base = os.path.join(root, top)
            for cls in sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d))):
                entries += [(p, split, cls) for p in walk_media(os.path.join(base, cls), exts)]
        else:
            entries += [(p, "train", top) for p in walk_media(os.path.join(root, top), exts)]
    return entries, sorted({c for _, _, c in entries})
