"""TFDS builders over the same layouts: build from a manual_dir, read back with config.data.source="tfds".

Needs `tensorflow-datasets` (the `tfds` extra; no TensorFlow); skipped without it.
"""
import os

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is not installed: "
                           "pip install 'avjax[tfds]' to test the TFDS builders")

from avjax.data import pipeline, sources, tfds_builders  # noqa: E402
from test_convert import GOOD, convert_kinetics, data_config, make_kinetics  # noqa: E402
from test_sources import shard_config  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("manual"))
    make_kinetics(root)  # root/videos + root/annotations: a TFDS manual_dir
    data_dir = os.path.join(root, "tfds")
    builder = tfds_builders.AvjaxKinetics400(data_dir=data_dir, workers=1)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=root))
    return root, data_dir, builder


def test_builder_splits_and_metadata(built):
    _, data_dir, builder = built
    assert builder.name == "avjax_kinetics400"
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": len(GOOD), "val": 2}
    again = tfds.builder("avjax_kinetics400", data_dir=data_dir)
    md = again.info.metadata
    assert md["num_classes"] == 2 and md["class_names"] == ["drumming", "singing"]
    assert md["skipped_counts"] == {"file_not_found": 1, "corrupt": 1, "no_audio": 1, "too_short": 1}
    ds = tfds.data_source("avjax_kinetics400", split="val", data_dir=data_dir)
    assert len(ds) == 2 and isinstance(ds[0]["record"], bytes)


def test_tfds_source_serves_the_same_clips_as_shards(built, tmp_path):
    root, data_dir, _ = built
    out = str(tmp_path / "shards")
    convert_kinetics(root, out, workers=1)
    cfg = data_config(data_dir, source="tfds", tfds_name="avjax_kinetics400")
    tf_src = sources.get_source(cfg, "train")
    ar_src = sources.get_source(data_config(out), "train")
    a = {tf_src[i].id: tf_src[i] for i in range(len(tf_src))}
    b = {ar_src[i].id: ar_src[i] for i in range(len(ar_src))}
    assert sorted(a) == sorted(b) and len(a) == len(GOOD)
    for k in a:
        assert a[k].record.data == b[k].record.data
    assert len(sources.get_source(data_config(data_dir, source="tfds", tfds_name="avjax_kinetics400",
                                              splits={"x": "train+val[1:]"}), "x")) == len(GOOD) + 1
    config = shard_config(data_dir, **{"data.source": "tfds", "data.tfds_name": "avjax_kinetics400"})
    batch = next(iter(pipeline.train_dataset(config, 0, 1, 4)))
    assert batch["video1"].shape == (4, 8, 32, 32, 3) and np.isfinite(batch["audio1"]).all()
