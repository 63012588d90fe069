"""TFDS builders over the same dataset layouts (`manual_dir` = the user's files), array_record format.

Each builder lists its inputs with the format module of `avjax.data.formats` and turns every file
into the same clip record `avjax convert` writes (`avjax.data.convert.convert_item`), stored in the
feature `record` next to `id` and `label`; `tfds.data_source` / `builder.as_data_source` then serve
them by random access, and `config.data.source = "tfds"` reads them (`avjax.data.sources`).

    import tensorflow_datasets as tfds
    from avjax.data import tfds_builders
    builder = tfds_builders.AvjaxKinetics400(data_dir="~/tfds")   # manual_dir defaults to
    builder.download_and_prepare(                                 #   <data_dir>/downloads/manual
        download_config=tfds.download.DownloadConfig(manual_dir="/data/kinetics400"))
    source = tfds.data_source("avjax_kinetics400", split="train", data_dir="~/tfds")

manual_dir layout: the media under `manual_dir/videos/` (or `manual_dir/` itself) and the
metadata (the file or folder the format's --meta takes) at `manual_dir/meta` or
`manual_dir/annotations`, if the format needs one. Building needs `tensorflow-datasets` only
(no TensorFlow: the features are plain bytes / text / int64, serialised by TFDS's own protos);
install it with `pip install 'avjax[tfds]'`.

The class names, aliases (e.g. UCF101's "test1") and skipped inputs (by reason) are kept in the
dataset's metadata (`builder.info.metadata`).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os

import numpy as np
import tensorflow_datasets as tfds

from avjax.data import convert, formats

log = logging.getLogger("avjax.data")

SETTINGS = convert.Settings()  # fps 16, short side 128, 16 kHz mono int16, JPEG q90


def manual_paths(manual_dir: str) -> tuple[str, str | None]:
    """(src, meta) inside a TFDS manual_dir."""
    manual_dir = os.fspath(manual_dir)
    src = os.path.join(manual_dir, "videos")
    src = src if os.path.isdir(src) else manual_dir
    meta = next((os.path.join(manual_dir, m) for m in ("meta", "annotations")
                 if os.path.exists(os.path.join(manual_dir, m))), None)
    return src, meta


def _work(args):
    item, needs_video, needs_audio = args
    return convert.convert_item(item, SETTINGS, needs_video, needs_audio)


class _AvjaxBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base: FORMAT names the `avjax.data.formats` module."""

    FORMAT = ""
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Clip records: JPEG frames at 16 fps (short side 128) + 16 kHz int16 PCM."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Put the dataset's media under `manual_dir/videos/` (or directly in manual_dir) and its
    metadata (as `avjax convert --meta` takes it) at `manual_dir/meta`. See avjax.data.formats.
    """

    def __init__(self, *, file_format=None, workers: int | None = None, **kwargs):
        super().__init__(file_format=file_format or "array_record", **kwargs)
        self._workers = workers

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "record": tfds.features.Tensor(shape=(), dtype=np.object_),
                "id": tfds.features.Text(),
                "label": tfds.features.Scalar(dtype=np.int64),
            }),
            metadata=tfds.core.MetadataDict(),
            homepage="https://github.com/avjax/avjax",
        )

    def _split_generators(self, dl_manager):
        src, meta = manual_paths(dl_manager.manual_dir)
        listing = formats.list_items(self.FORMAT, src, meta)
        md = self.info.metadata
        md.update({"format": self.FORMAT, "class_names": listing.class_names,
                   "num_classes": listing.num_classes, "multi_label": listing.multi_label,
                   "aliases": listing.aliases, "skipped_counts": {}, "notes": listing.notes})
        for _, reason in listing.missing:
            md["skipped_counts"][reason] = md["skipped_counts"].get(reason, 0) + 1
        return {split: self._generate_examples([it for it in listing.items if it.split == split], listing)
                for split in listing.splits()}

    def _generate_examples(self, items, listing):
        args = [(it, listing.needs_video, listing.needs_audio) for it in items]
        workers = self._workers or os.cpu_count() or 1
        if workers > 1 and len(args) > 1:
            with mp.get_context("spawn").Pool(workers) as pool:
                results = list(pool.imap(_work, args, chunksize=1))
        else:
            results = [_work(a) for a in args]
        counts = self.info.metadata["skipped_counts"]
        for item, (data, reason, details) in zip(items, results):
            if data is None:
                counts[reason] = counts.get(reason, 0) + 1
                log.warning("tfds %s: skipped %s (%s) %s", self.FORMAT, item.path, reason, "; ".join(details))
                continue
            yield item.id, {"record": data, "id": item.id, "label": item.labels[0] if item.labels else -1}


def _builder(class_name: str, fmt: str, doc: str):
    return type(class_name, (_AvjaxBuilder,), {"FORMAT": fmt, "__doc__": doc, "__module__": __name__})


AvjaxKinetics400 = _builder("AvjaxKinetics400", "kinetics", "Kinetics-400 clip records.")
AvjaxKineticsSound = _builder("AvjaxKineticsSound", "kinetics_sound", "Kinetics-Sound (32 classes) clip records.")
AvjaxAudioset = _builder("AvjaxAudioset", "audioset", "AudioSet clip records (527 classes, multi-label).")
AvjaxVggsound = _builder("AvjaxVggsound", "vggsound", "VGGSound clip records.")
AvjaxEsc50 = _builder("AvjaxEsc50", "esc50", "ESC-50 recordings (5 folds) as clip records.")
AvjaxUcf101 = _builder("AvjaxUcf101", "ucf101", "UCF101 clip records (3 splits).")
AvjaxHmdb51 = _builder("AvjaxHmdb51", "hmdb51", "HMDB51 clip records (3 splits).")
AvjaxDcase = _builder("AvjaxDcase", "dcase", "DCASE 2013 scene classification clip records.")
AvjaxFolder = _builder("AvjaxFolder", "folder", "A <class>/<files> folder tree as clip records.")

BUILDERS = {b.FORMAT: b for b in (AvjaxKinetics400, AvjaxKineticsSound, AvjaxAudioset, AvjaxVggsound,
                                  AvjaxEsc50, AvjaxUcf101, AvjaxHmdb51, AvjaxDcase, AvjaxFolder)}
