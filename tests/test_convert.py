"""`avjax convert`: real media written with PyAV from the synthetic world -> shards -> clips.

Media: H.264 + AAC mp4 at 16, 25 and 30 fps, variable frame rate, AAC at 48 kHz (resampled to
16 kHz), a segment cut out of a longer file, a truncated mp4, a video without audio, a clip
shorter than the minimum, a file the metadata names but that is missing, WAV files.
The helpers here (`make_kinetics`, `convert_kinetics`) are also used by test_sources / test_tfds.
"""
import json
import os

import numpy as np
import pytest

from avjax import cli
from avjax.data import convert, formats, records, sources, synthetic

SIZE, SR = 64, 16000
WORLD = synthetic.WorldConfig(num_clips=16, duration=6.0, fps=16.0, size=SIZE, seed=3)
CLASSES = ("drumming", "singing")


def world():
    return synthetic.SyntheticWorld(WORLD)


def vfr_times(n: int) -> np.ndarray:
    return np.cumsum(np.r_[0.0, np.random.default_rng(7).uniform(0.02, 0.07, n - 1)])


# name: (world index, fps or "vfr", seconds, audio rate or None, split, file stem form, segment)
KINETICS = {
    "fps16______": (0, 16.0, 3.0, SR, "train", "long", None),
    "fps25______": (1, 25.0, 3.0, 48000, "train", "plain", None),
    "fps30______": (2, 30.0, 3.0, SR, "train", "long", None),
    "vfr________": (3, "vfr", 3.0, SR, "train", "plain", None),
    "segment____": (4, 16.0, 6.0, SR, "train", "plain", (2.0, 4.5)),
    "truncated__": (5, 16.0, 3.0, SR, "train", "plain", None),
    "no_audio___": (6, 16.0, 3.0, None, "train", "plain", None),
    "too_short__": (7, 16.0, 0.6, SR, "train", "plain", None),
    "missing____": (8, 16.0, 3.0, SR, "train", None, None),
    "val0_______": (9, 16.0, 2.0, SR, "val", "plain", None),
    "val1_______": (10, 25.0, 2.0, SR, "val", "long", None),
}
GOOD = ("fps16______", "fps25______", "fps30______", "vfr________", "segment____")


def source_frame_times(name: str) -> np.ndarray:
    idx, fps, seconds = KINETICS[name][:3]
    if fps == "vfr":
        return vfr_times(int(seconds * 30))
    return np.arange(int(round(seconds * fps))) / fps


def stamp(frames: np.ndarray) -> np.ndarray:
    """Write each frame's index j into two grey bars on top (16 + 24 * tens, 16 + 24 * units), a
    time code that survives H.264 and JPEG: the world's own frames differ too little at 30 fps."""
    frames = frames.copy()
    for j in range(len(frames)):
        frames[j, :16, :SIZE // 2] = 16 + 24 * (j // 10)
        frames[j, :16, SIZE // 2:] = 16 + 24 * (j % 10)
    return frames


def read_stamp(frame: np.ndarray) -> int:
    hi = float(frame[3:13, 4:SIZE // 2 - 4].mean())
    lo = float(frame[3:13, SIZE // 2 + 4:-4].mean())
    return int(round((hi - 16) / 24)) * 10 + int(round((lo - 16) / 24))


def make_kinetics(root: str) -> tuple[str, str]:
    """A Kinetics-style dataset: (videos folder, annotations folder)."""
    w = world()
    videos, ann = os.path.join(root, "videos"), os.path.join(root, "annotations")
    os.makedirs(videos, exist_ok=True)
    os.makedirs(ann, exist_ok=True)
    rows = {"train": [], "val": []}
    for n, (name, (idx, fps, seconds, arate, split, form, seg)) in enumerate(KINETICS.items()):
        start, end = seg if seg else (0.0, seconds)
        rows[split].append(f"{CLASSES[n % 2]},{name},{start},{end},{split}")
        if form is None:
            continue
        times = source_frame_times(name)
        video = stamp(np.stack([w.video(idx, t, 1, 16.0)[0] for t in times]))
        audio = w.audio(idx, 0.0, int(seconds * SR)) if arate else None
        stem = f"{name}_{int(start):06d}_{int(end):06d}" if form == "long" else name
        path = os.path.join(videos, CLASSES[n % 2], stem + ".mp4")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        convert.write_media(path, video, 30.0 if fps == "vfr" else fps, audio, SR, audio_rate=arate,
                            frame_times=times if fps == "vfr" else None)
        if name == "truncated__":
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) * 2 // 3)
    for split, lines in rows.items():
        with open(os.path.join(ann, f"{'validate' if split == 'val' else split}.csv"), "w") as f:
            f.write("label,youtube_id,time_start,time_end,split\n" + "\n".join(lines) + "\n")
    return videos, ann


def convert_kinetics(root: str, out: str, workers: int = 2, **kw) -> dict:
    videos, ann = (os.path.join(root, "videos"), os.path.join(root, "annotations"))
    if not os.path.isdir(videos):
        videos, ann = make_kinetics(root)
    return convert.convert("kinetics", videos, out, ann, settings=convert.Settings(records_per_shard=3),
                           workers=workers, progress=False, **kw)


def data_config(path: str, **fields):
    import ml_collections
    c = ml_collections.ConfigDict(dict(source="array_record", path=path, num_classes=2,
                                       splits={"train": "train", "eval": "val"}))
    for k, v in fields.items():
        c[k] = v
    return c


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("kinetics"))
    out = os.path.join(root, "shards")
    manifest = convert_kinetics(root, out)
    return root, out, manifest


def test_manifest_counts_and_skips(dataset):
    root, out, manifest = dataset
    assert manifest["complete"] and manifest["class_names"] == sorted(CLASSES)
    assert manifest["splits"]["train"]["records"] == len(GOOD)
    assert manifest["splits"]["train"]["inputs"] == 8  # "missing" never reaches a shard
    assert manifest["splits"]["val"]["records"] == 2
    assert manifest["skipped_counts"] == {"file_not_found": 1, "corrupt": 1, "no_audio": 1, "too_short": 1}
    reasons = {s["id"].split("_")[0]: s["reason"] for s in manifest["skipped"]}
    assert reasons == {"missing": "file_not_found", "truncated": "corrupt", "no": "no_audio", "too": "too_short"}
    assert sum(manifest["splits"]["train"]["per_class"].values()) == len(GOOD)
    on_disk = json.load(open(os.path.join(out, "manifest.json")))
    assert on_disk["splits"] == manifest["splits"]
    assert sorted(f for f in os.listdir(out) if "array_record" in f) == [
        "train.array_record-00000-of-00003", "train.array_record-00001-of-00003",
        "train.array_record-00002-of-00003", "val.array_record-00000-of-00001"]


def _frame_error(a, b):
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_frames_and_audio_at_the_right_times(dataset):
    """Each stored frame k is the source frame on screen at k / 16 s (25, 30 fps, VFR, a cut
    segment alike), and the audio lines up with the world's to the sample (48 kHz AAC too)."""
    _, out, _ = dataset
    w = world()
    src = sources.get_source(data_config(out), "train")
    clips = {src[i].id.split("_")[0] + "_" * (11 - len(src[i].id.split("_")[0])): src[i] for i in range(len(src))}
    assert sorted(clips) == sorted(GOOD)
    for name in GOOD:
        clip, (idx, fps, seconds, _, _, _, seg) = clips[name], KINETICS[name]
        origin, length = (seg[0], seg[1] - seg[0]) if seg else (0.0, seconds)
        assert clip.record.header["start"] == pytest.approx(origin)
        assert clip.video_duration == pytest.approx(length, abs=1 / 16 + 1e-6)
        assert clip.audio_duration == pytest.approx(length, abs=0.05)
        times = source_frame_times(name)
        for k in (0, 5, 17, int(length * 16) - 1):
            t = origin + k / 16
            j = int(np.searchsorted(times, t + 1e-6, side="right") - 1)  # the frame on screen at t
            got = clip.record.frame(k)
            assert read_stamp(got) == j, (name, k, j, read_stamp(got))
            err = _frame_error(got[20:], w.video(idx, times[j], 1, 16.0)[0][20:])
            assert err < 9, (name, k, err)
        # Audio: the stored waveform against the world's, by cross-correlation.
        n = int((length - 0.3) * SR)
        got = clip.audio(0.1, n)
        ref = w.audio(idx, origin + 0.1 - 0.01, n + 320)
        xc = np.correlate(ref, got, mode="valid")
        lag = int(np.argmax(xc)) - 160
        assert abs(lag) <= 1, (name, lag)
        corr = np.corrcoef(got, ref[160 + lag:160 + lag + n])[0, 1]
        assert corr > 0.95, (name, corr)


def test_resume_after_interruption_gives_the_same_shards(dataset, tmp_path):
    root, out, manifest = dataset
    part = str(tmp_path / "part")
    first = convert_kinetics(root, part, workers=1, max_shards=1)
    assert not first["complete"] and len(convert.read_journal(part)) == 1
    # What a crash leaves: a half-written shard and a torn journal line.
    open(os.path.join(part, "train.array_record-00001-of-00003.tmp"), "wb").write(b"half")
    with open(os.path.join(part, convert.JOURNAL), "a") as f:
        f.write('{"shard": "train.array_rec')
    done = convert_kinetics(root, part, workers=1)
    assert done["complete"] and done["splits"] == manifest["splits"]
    assert not [f for f in os.listdir(part) if f.endswith(".tmp")]
    for split in ("train", "val"):
        a = sources.get_source(data_config(out), split)
        b = sources.get_source(data_config(part), split)
        assert [a[i].record.data for i in range(len(a))] == [b[i].record.data for i in range(len(b))]
    with pytest.raises(ValueError, match="other settings"):
        convert.convert("kinetics", os.path.join(root, "videos"), part, os.path.join(root, "annotations"),
                        settings=convert.Settings(fps=8, records_per_shard=3), workers=1, progress=False)


def test_cli_convert_folder_of_wavs_and_videos(tmp_path, capsys):
    w = world()
    for i, cls in enumerate(["dog", "rain", "dog"]):
        os.makedirs(tmp_path / "src" / cls, exist_ok=True)
        convert.write_media(str(tmp_path / "src" / cls / f"a{i}.wav"), None, audio=w.audio(i, 0.0, 2 * SR))
    convert.write_media(str(tmp_path / "src" / "rain" / "v.mp4"), w.video(5, 0.0, 32, 16.0), 16.0)
    (tmp_path / "src" / "rain" / "broken.mp4").write_bytes(b"not a video at all")
    rc = cli.main(["convert", "--format", "folder", "--src", str(tmp_path / "src"), "--out",
                   str(tmp_path / "out"), "--workers", "1"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["records"] == 4 and report["skipped"] == {"corrupt": 1}
    src = sources.get_source(data_config(str(tmp_path / "out"), splits={"train": "train"}), "train")
    by_id = {src[i].id: src[i] for i in range(len(src))}
    wav = by_id["dog/a0"]
    assert wav.video_duration == 0 and wav.audio_duration == pytest.approx(2.0)
    np.testing.assert_allclose(wav.audio(0.5, 800), w.audio(0, 0.5, 800), atol=2 / 32767)
    assert by_id["rain/v"].audio_duration == 0 and by_id["rain/v"].label == 1
    assert cli.main(["convert", "--format", "folder", "--src", str(tmp_path / "nope"), "--out",
                     str(tmp_path / "o2")]) == 2


# ---------------------------------------------------------------------------------------------
# Format readers (listings only: the files need not be decodable).
# ---------------------------------------------------------------------------------------------

def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()


def test_esc50_folds(tmp_path):
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    for i in range(10):
        rows.append(f"{i}-1-A-{i % 3}.wav,{i % 5 + 1},{i % 3},cls{i % 3},False,1,A")
        _touch(str(tmp_path / "audio" / f"{i}-1-A-{i % 3}.wav"))
    os.makedirs(tmp_path / "meta")
    (tmp_path / "meta" / "esc50.csv").write_text("\n".join(rows))
    listing = formats.list_items("esc50", str(tmp_path))
    assert listing.class_names == ["cls0", "cls1", "cls2"] and not listing.needs_video
    assert listing.splits() == [f"fold{k}" for k in range(1, 6)]
    assert listing.aliases["test2"] == ["fold2"] and "fold2" not in listing.aliases["train2"]
    assert {it.labels[0] for it in listing.items} == {0, 1, 2}


def test_ucf101_three_splits(tmp_path):
    meta = tmp_path / "ucfTrainTestlist"
    os.makedirs(meta)
    (meta / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    names = []
    for cls in ("ApplyEyeMakeup", "Archery"):
        for g in (1, 9, 16, 23):
            name = f"v_{cls}_g{g:02d}_c01.avi"
            names.append((cls, g, name))
            _touch(str(tmp_path / "UCF-101" / cls / name))
    for k in range(1, 4):
        test = [n for n in names if 7 * (k - 1) < n[1] <= 7 * k]
        train = [n for n in names if n not in test]
        (meta / f"trainlist0{k}.txt").write_text("".join(f"{c}/{n} {1 + (c == 'Archery')}\n" for c, _, n in train))
        (meta / f"testlist0{k}.txt").write_text("".join(f"{c}/{n}\n" for c, _, n in test))
    listing = formats.list_items("ucf101", str(tmp_path / "UCF-101"), str(meta))
    assert listing.class_names == ["ApplyEyeMakeup", "Archery"] and not listing.needs_audio
    by_id = {it.id: it for it in listing.items}
    assert by_id["v_Archery_g09_c01"].split == "tr_te_tr" and by_id["v_Archery_g09_c01"].labels == (1,)
    assert by_id["v_ApplyEyeMakeup_g23_c01"].split == "tr_tr_tr"
    assert listing.aliases["test1"] == ["te_tr_tr"]
    # Without --meta the group rule gives the same parts.
    again = formats.list_items("ucf101", str(tmp_path / "UCF-101"))
    assert {it.id: it.split for it in again.items} == {it.id: it.split for it in listing.items}


def test_hmdb51_split_files(tmp_path):
    meta = tmp_path / "splits"
    os.makedirs(meta)
    for cls in ("brush_hair", "cartwheel"):
        for k in (1, 2, 3):
            (meta / f"{cls}_test_split{k}.txt").write_text(
                f"{cls}_a.avi {1 if k != 2 else 2}\n{cls}_b.avi {2 if k == 1 else 0}\n")
        for v in "ab":
            _touch(str(tmp_path / "hmdb51" / cls / f"{cls}_{v}.avi"))
    listing = formats.list_items("hmdb51", str(tmp_path / "hmdb51"), str(meta))
    by_id = {it.id: it for it in listing.items}
    assert by_id["cartwheel_a"].split == "tr_te_tr" and by_id["cartwheel_a"].labels == (1,)
    assert by_id["brush_hair_b"].split == "te_no_no"
    assert listing.aliases["test1"] == ["te_no_no"] and listing.aliases["train3"] == ["tr_te_tr"]


def test_dcase_stratified_folds(tmp_path):
    for cls in ("bus", "park"):
        for i in range(1, 11):
            _touch(str(tmp_path / "scenes_stereo" / f"{cls}{i:02d}.wav"))
    _touch(str(tmp_path / "scenes_stereo_testset" / "office01.wav"))
    listing = formats.list_items("dcase", str(tmp_path))
    folds = {}
    for it in listing.items:
        folds.setdefault(it.split, []).append(listing.class_names[it.labels[0]])
    assert sorted(folds) == ["fold1", "fold2", "fold3", "fold4", "fold5", "test"]
    assert all(sorted(v) == ["bus", "bus", "park", "park"] for k, v in folds.items() if k != "test")
    assert folds["test"] == ["office"] and len(listing.aliases["train"]) == 5


def test_audioset_multi_label_csv(tmp_path):
    csv = tmp_path / "balanced_train_segments.csv"
    csv.write_text('# Segments csv created Sun Mar  5 10:54:31 2017\n'
                   '# num_ytids=2, num_segs=2, num_unique_labels=3, num_positive_labels=3\n'
                   '# YTID, start_seconds, end_seconds, positive_labels\n'
                   '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"\n'
                   '--ZhevVpy1s, 50.000, 60.000, "/m/012xff"\n'
                   'missingclip, 0.000, 10.000, "/m/04rlf"\n')
    _touch(str(tmp_path / "v" / "Y--PJHxphWEs.mp4"))
    _touch(str(tmp_path / "v" / "--ZhevVpy1s_000050_000060.mp4"))
    listing = formats.list_items("audioset", str(tmp_path / "v"), str(csv))
    assert listing.multi_label and listing.num_classes == 527
    assert listing.class_names[0] == "Speech" and listing.class_names[137] == "Music"
    by_id = {it.meta["ytid"]: it for it in listing.items}
    assert by_id["--PJHxphWEs"].labels == (0, 451) and by_id["--PJHxphWEs"].segment == (30.0, 40.0)
    assert by_id["--ZhevVpy1s"].labels == (375,)
    assert listing.missing == [("missingclip_0", "file_not_found")]
    assert listing.splits() == ["balanced_train"] and listing.aliases == {"train": ["balanced_train"]}


def test_vggsound_and_kinetics_sound(tmp_path):
    (tmp_path / "vggsound.csv").write_text("abcdefghijk,30,dog barking,train\nbcdefghijkl,0,rain,test\n")
    _touch(str(tmp_path / "v" / "abcdefghijk_000030.mp4"))
    _touch(str(tmp_path / "v" / "bcdefghijkl_000000_000010.mp4"))
    listing = formats.list_items("vggsound", str(tmp_path / "v"), str(tmp_path / "vggsound.csv"))
    assert [(it.split, it.labels, it.segment) for it in listing.items] == [
        ("train", (0,), (30.0, 40.0)), ("test", (1,), (0.0, 10.0))]
    from avjax.data.formats import kinetics_sound
    names = kinetics_sound.class_names()
    assert len(names) == 32 and names == sorted(names) and "playing bagpipes" in names
    (tmp_path / "k.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                    "playing drums,abcdefghijk,0,10,train\nabseiling,bcdefghijkl,0,10,train\n")
    _touch(str(tmp_path / "kv" / "abcdefghijk_000000_000010.mp4"))
    _touch(str(tmp_path / "kv" / "bcdefghijkl_000000_000010.mp4"))
    ks = formats.list_items("kinetics_sound", str(tmp_path / "kv"), str(tmp_path / "k.csv"))
    assert [it.labels for it in ks.items] == [(names.index("playing drums"),)] and ks.num_classes == 32


def test_unknown_format_and_missing_src_are_clear(tmp_path):
    with pytest.raises(ValueError, match="--format 'nope'"):
        formats.get("nope")
    with pytest.raises(FileNotFoundError, match="--src"):
        formats.list_items("folder", str(tmp_path / "absent"))
    with pytest.raises(records.RecordError):
        records.ClipRecord(b"")
