"""Stored sources (array_record shards) through the Grain pipeline: two-view batches, resume,
bad records skipped and counted, multi-label batches, multi-clip evaluation, split expressions."""
import json
import os
import shutil

import numpy as np
import pytest

from avjax.data import convert, pipeline, records, sources, synthetic
from conftest import tiny_config
from test_convert import SR, convert_kinetics, data_config, world


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("kin"))
    out = os.path.join(root, "shards")
    convert_kinetics(root, out, workers=1)
    return out


def shard_config(path, **overrides):
    fields = {"data.source": "array_record", "data.path": path, "data.num_classes": 2,
              "data.splits": {"train": "train", "probe": "train", "eval": "val"}, "batch_size": 4}
    fields.update(overrides)
    return tiny_config(**fields)


def take(it, n):
    return [next(it) for _ in range(n)]


def test_clip_api_matches_the_synthetic_source(shards):
    src = sources.get_source(data_config(shards), "train")
    syn = sources.get_source(tiny_config().data, "train")
    for clip in (src[0], syn[0]):
        assert isinstance(clip.label, int) and clip.index == 0
        assert clip.labels.dtype == np.float32 and clip.labels.sum() == 1
        assert clip.video(0.5, 4, 16.0).shape[0] == 4 and clip.video(0.5, 4, 16.0).dtype == np.uint8
        a = clip.audio(0.5, 1000)
        assert a.shape == (1000,) and a.dtype == np.float32 and np.abs(a).max() <= 1
        assert clip.video_duration > 1 and clip.audio_duration > 1


def test_train_batches_deterministic_and_resumable(shards):
    config = shard_config(shards)
    ds = pipeline.train_dataset(config, 0, 1, 4)
    first = take(iter(ds), 5)
    b = first[0]
    assert b["video1"].shape == (4, 8, 32, 32, 3) and b["video1"].dtype == np.uint8
    assert b["audio1"].shape == (4, 16000) and b["label"].shape == (4,)
    assert "bad_records" not in b and "labels" not in b
    again = take(iter(pipeline.train_dataset(config, 0, 1, 4)), 5)
    for x, y in zip(first, again):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    # Iterator state (what the checkpoint stores): a restored iterator continues the same sequence.
    it = iter(pipeline.train_dataset(config, 0, 1, 4))
    take(it, 2)
    state = it.get_state()
    fresh = iter(pipeline.train_dataset(config, 0, 1, 4))
    fresh.set_state(state)
    for x, y in zip(take(fresh, 3), first[2:5]):
        np.testing.assert_array_equal(x["video2"], y["video2"])
        np.testing.assert_array_equal(x["audio2"], y["audio2"])
    # Two processes see disjoint halves of each epoch.
    p0 = take(iter(pipeline.train_dataset(config, 0, 2, 2)), 1)[0]
    p1 = take(iter(pipeline.train_dataset(config, 1, 2, 2)), 1)[0]
    assert not any(np.array_equal(a, b) for a in p0["audio1"] for b in p1["audio1"])


def test_views_follow_the_relaxed_temporal_crop(shards):
    """same_timestamp views come from one window: with the crop taken away, equal audio."""
    config = shard_config(shards, **{"data.temporal_scheme": "same_timestamp"})
    b = next(iter(pipeline.train_dataset(config, 0, 1, 4)))
    np.testing.assert_array_equal(b["audio1"], b["audio2"])
    config = shard_config(shards, **{"data.temporal_scheme": "overlapped"})
    b = next(iter(pipeline.train_dataset(config, 0, 1, 4)))
    # overlapped: the second audio view starts 0.5 s (half a view) after the first.
    np.testing.assert_allclose(b["audio1"][:, 8000:], b["audio2"][:, :8000], atol=1e-6)


def test_bad_records_are_skipped_and_counted(shards, tmp_path):
    from array_record.python import array_record_module as arm
    good = sources.get_source(data_config(shards), "train")
    out = str(tmp_path / "bad")
    os.makedirs(out)
    writer = arm.ArrayRecordWriter(os.path.join(out, "train.array_record-00000-of-00001"), "group_size:1")
    rec0 = good[0].record
    # A record whose frames are all broken JPEGs (the header parses, decoding fails).
    broken = bytearray(rec0.data)
    for k in range(rec0.num_frames):
        a = rec0._jpeg_base + int(rec0._offsets[k])
        broken[a:a + 2] = b"\0\0"
    for data in [rec0.data, b"garbage", bytes(broken), good[1].record.data, rec0.data[:100]]:
        writer.write(data)
    writer.close()
    config = shard_config(out, **{"data.splits": {"train": "train"}})
    before = pipeline.BAD_RECORDS["total"]
    batches = take(iter(pipeline.train_dataset(config, 0, 1, 5)), 4)  # 4 epochs
    # Per epoch: clip 1 -> 2 (bad too) -> 3, clip 2 -> 3, clip 4 -> 0: four unreadable reads.
    assert pipeline.BAD_RECORDS["total"] - before == 4 * 4
    for b in batches:  # only the two good clips (labels of clips 0 and 1) make it into batches
        assert set(b["label"].tolist()) <= {good[0].label, good[1].label}
    # Evaluation masks bad records out and counts them.
    before = pipeline.BAD_RECORDS["total"]
    eval_cfg = shard_config(out, **{"data.splits": {"eval": "train"}})
    (batch,) = list(pipeline.eval_batches(eval_cfg, "eval", None, 8))
    assert batch["mask"].tolist() == [1, 0, 0, 1, 0, 0, 0, 0]
    assert pipeline.BAD_RECORDS["total"] - before == 3


def test_multi_clip_eval_two_processes(shards):
    config = shard_config(shards, **{"eval.clips_per_video": 3, "data.splits": {"eval": "train"}})
    src = sources.get_source(config.data, "eval")
    n = len(src)
    per = [list(pipeline.eval_batches(config, "eval", None, 4, p, 2)) for p in (0, 1)]
    assert len(per[0]) == len(per[1]) == -(-(-(-n * 3 // 2)) // 4)
    seen = []
    spec = pipeline.ClipSpec.from_config(config)
    for batches in per:
        for b in batches:
            assert b["video"].shape == (4, 8, 32, 32, 3) and b["audio"].shape == (4, 16000)
            for i in np.flatnonzero(b["mask"]):
                index, window = int(b["index"][i]), int(b["clip"][i])
                seen.append((index, window))
                clip = src[index]
                v_start, a_start = pipeline.eval_windows(clip, spec, 3)[window]
                np.testing.assert_array_equal(b["audio"][i], clip.audio(a_start, 16000))
                assert b["label"][i] == clip.label
    assert sorted(seen) == [(i, k) for i in range(n) for k in range(3)]
    clip = src[0]
    wins = pipeline.eval_windows(clip, spec, 3)
    assert wins[0][0] == 0 and wins[-1][0] == pytest.approx(clip.video_duration - 0.5)
    assert all(0 <= a <= clip.audio_duration - 1.0 + 1e-9 for _, a in wins)


def test_split_expressions_and_aliases(shards, tmp_path):
    n_train = len(sources.get_source(data_config(shards), "train"))
    cfg = data_config(shards, splits={"a": "train[:2]", "b": "train+val", "c": "train[50%:]", "d": "val[-1:]",
                                      "e": "train.array_record-0000[01]-*"})
    assert len(sources.get_source(cfg, "a")) == 2
    assert len(sources.get_source(cfg, "b")) == n_train + 2
    assert len(sources.get_source(cfg, "c")) == n_train - round(n_train / 2)
    assert sources.get_source(cfg, "d")[0].id == sources.get_source(cfg, "val")[1].id
    assert 0 < len(sources.get_source(cfg, "e")) < n_train
    assert sources.parse_split("x+y[:10]") == (["x", "y"], None, "10")
    with pytest.raises(FileNotFoundError, match="shard sets there: \\['train', 'val'\\]"):
        sources.get_source(cfg, "nope")
    with pytest.raises(ValueError, match="num_classes=5"):
        sources.get_source(data_config(shards, num_classes=5), "train")
    # Aliases from the manifest (as UCF101's "test1"): a union of shard sets.
    alias = str(tmp_path / "alias")
    shutil.copytree(shards, alias)
    manifest = json.load(open(os.path.join(alias, "manifest.json")))
    manifest["aliases"] = {"everything": ["train", "val"]}
    json.dump(manifest, open(os.path.join(alias, "manifest.json"), "w"))
    assert len(sources.get_source(data_config(alias, splits={"x": "everything[1:]"}), "x")) == n_train + 1


def test_audioset_multi_label_batches(tmp_path):
    w = world()
    csv = tmp_path / "eval_segments.csv"
    lines = ["# YTID, start_seconds, end_seconds, positive_labels"]
    labels = {"aaaaaaaaaaa": "/m/09x0r,/m/04rlf", "bbbbbbbbbbb": "/m/0bt9lr", "ccccccccccc": "/m/04rlf,/m/0bt9lr"}
    os.makedirs(tmp_path / "v")
    for i, (yt, labs) in enumerate(labels.items()):
        lines.append(f'{yt}, 0.000, 2.000, "{labs}"')
        convert.write_media(str(tmp_path / "v" / f"{yt}.mp4"), w.video(i, 0.0, 32, 16.0), 16.0,
                            w.audio(i, 0.0, 2 * SR), SR)
    csv.write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "shards")
    manifest = convert.convert("audioset", str(tmp_path / "v"), out, str(csv), workers=1, progress=False)
    assert manifest["multi_label"] and manifest["splits"]["eval"]["records"] == 3
    config = shard_config(out, **{"data.num_classes": 527, "data.multi_label": True,
                                  "data.splits": {"train": "eval", "eval": "eval"}, "audio.seconds": 1.0})
    b = next(iter(pipeline.train_dataset(config, 0, 1, 3)))
    assert b["labels"].shape == (3, 527) and b["labels"].dtype == np.float32
    got = {tuple(np.flatnonzero(row)) for row in b["labels"]}
    assert got == {(0, 137), (74,), (74, 137)}
    for row, first in zip(b["labels"], b["label"]):  # `label`: the CSV's first label of the clip
        assert row[first] == 1
    (e,) = list(pipeline.eval_batches(config, "eval", None, 4))
    assert e["labels"].shape == (4, 527) and e["labels"][3].sum() == 0 and e["mask"][3] == 0


def test_unknown_source_and_missing_path_are_clear(tmp_path):
    with pytest.raises(ValueError, match="use 'synthetic', 'array_record' or 'tfds'"):
        sources.get_source(data_config("", source="parquet"), "train")
    with pytest.raises(ValueError, match="config.data.path is empty"):
        sources.get_source(data_config(""), "train")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        sources.get_source(data_config(str(tmp_path / "absent")), "train")
    assert records.RecordError.__mro__[1] is ValueError and synthetic.NUM_CLASSES == 10
