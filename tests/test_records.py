"""The clip record: round trip, one-frame decoding, PCM slicing by sample index, corruption."""
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avjax.data import records, synthetic

SR = 16000


@pytest.fixture(scope="module")
def clip():
    world = synthetic.SyntheticWorld(synthetic.WorldConfig(num_clips=2, duration=2.0, fps=16.0, size=48))
    return world.clip(1)


@pytest.fixture(scope="module")
def record(clip):
    jpegs = [records.encode_jpeg(f) for f in clip["video"]]
    data = records.encode(frames_jpeg=jpegs, pcm=records.float_to_pcm(clip["audio"]), fps=16.0,
                          sample_rate=SR, height=48, width=48, id="clip-1", label=3, labels=[3, 7],
                          split="train", start=1.5, duration=12.0, meta={"class_name": "x"})
    return data


def test_round_trip(clip, record):
    rec = records.ClipRecord(record)
    assert (rec.id, rec.label, rec.label_list, rec.num_frames) == ("clip-1", 3, [3, 7], 32)
    assert rec.header["start"] == 1.5 and rec.header["end"] == pytest.approx(3.5)
    assert rec.header["meta"] == {"class_name": "x"} and rec.header["split"] == "train"
    assert rec.video_duration == pytest.approx(2.0) and rec.audio_duration == pytest.approx(2.0)
    everything = rec.decode_all()
    err = np.abs(everything["frames"].astype(float) - clip["video"].astype(float)).mean()
    # The loss of q90 4:2:0 JPEG itself (PIL as the reference codec): ~4.2 grey levels on these
    # 48 px frames; the record adds nothing to it.
    from PIL import Image
    ref = []
    for f in clip["video"]:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, format="JPEG", quality=90)
        ref.append(np.asarray(Image.open(buf).convert("RGB")))
    ref_err = np.abs(np.stack(ref).astype(float) - clip["video"].astype(float)).mean()
    assert 0 < err < 1.1 * ref_err + 0.2, (err, ref_err)
    np.testing.assert_array_equal(everything["pcm"], records.float_to_pcm(clip["audio"]))
    np.testing.assert_allclose(rec.audio(0.0, 32000), clip["audio"], atol=1 / 32767 + 1e-6)
    np.testing.assert_array_equal(rec.multi_hot(10), np.eye(10, dtype=np.float32)[[3, 7]].sum(0))


def test_one_frame_decodes_without_touching_the_others(record):
    """Corrupt every frame but frame 5: frame 5 still decodes, the others raise RecordError."""
    rec = records.ClipRecord(record)
    data = bytearray(record)
    for k in range(rec.num_frames):
        if k != 5:
            a = rec._jpeg_base + int(rec._offsets[k])
            data[a:a + 4] = b"\0\0\0\0"  # no SOI marker: not a JPEG any more
    broken = records.ClipRecord(bytes(data))
    np.testing.assert_array_equal(broken.frame(5), rec.frame(5))
    with pytest.raises(records.RecordError, match="bad JPEG"):
        broken.frame(4)
    # A window that only needs frame 5 (at 16 fps: times 5/16 .. 5.9/16) decodes only it.
    out = broken.video(5 / 16, 3, 64.0)
    assert out.shape == (3, 48, 48, 3) and list(broken._cache) == [5]


def test_video_picks_the_frame_on_screen(record):
    rec = records.ClipRecord(record)
    np.testing.assert_array_equal(rec.frame_indices(0.0, 4, 16.0), [0, 1, 2, 3])
    np.testing.assert_array_equal(rec.frame_indices(0.04, 4, 32.0), [0, 1, 1, 2])  # floor(t * 16)
    np.testing.assert_array_equal(rec.frame_indices(1.9, 4, 16.0), [30, 31, 31, 31])  # clamped
    np.testing.assert_array_equal(rec.frame_indices(-0.2, 2, 16.0), [0, 0])
    frames = rec.video(0.5, 8, 16.0)
    np.testing.assert_array_equal(frames[0], rec.frame(8))


@settings(max_examples=60, deadline=None)
@given(lo=st.integers(-40000, 40000), n=st.integers(0, 40000))
def test_pcm_slices_by_sample_index(lo, n):
    pcm = (np.arange(20000) % 30000 - 15000).astype(np.int16)
    rec = records.ClipRecord(records.encode(frames_jpeg=[], pcm=pcm, fps=16.0, sample_rate=SR))
    padded = np.concatenate([np.zeros(40000, np.int16), pcm, np.zeros(60000, np.int16)])
    np.testing.assert_array_equal(rec.pcm(lo, lo + n), padded[lo + 40000:lo + 40000 + n])


def test_audio_time_maps_to_sample_index():
    pcm = np.arange(16000, dtype=np.int16)
    rec = records.ClipRecord(records.encode(frames_jpeg=[], pcm=pcm, fps=16.0, sample_rate=SR))
    out = rec.audio(0.25, 10)
    np.testing.assert_allclose(out * 32767, np.arange(4000, 4010), atol=1e-3)
    assert rec.video_duration == 0 and rec.audio_duration == 1.0
    with pytest.raises(records.RecordError, match="no video frames"):
        rec.video(0.0, 2, 16.0)


def test_pil_fallback_matches_simplejpeg(clip):
    jpeg = records.encode_jpeg(clip["video"][3])
    a = records.decode_jpeg(jpeg, use_simplejpeg=True)
    b = records.decode_jpeg(jpeg, use_simplejpeg=False)
    assert a.shape == b.shape == (48, 48, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2  # IDCT rounding only


@pytest.mark.parametrize("damage", ["truncate", "magic", "header", "version"])
def test_corrupt_records_raise_record_error(record, damage):
    data = bytearray(record)
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "magic":
        data[:4] = b"XXXX"
    elif damage == "header":
        data[10:14] = b"\xff\xfe{{"
    else:
        data[4:6] = (99).to_bytes(2, "little")
    with pytest.raises(records.RecordError):
        records.ClipRecord(bytes(data))
    with pytest.raises(records.RecordError):
        records.ClipRecord("not bytes")
