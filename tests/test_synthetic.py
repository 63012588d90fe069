"""The synthetic AV world (avjax.data.synthetic): determinism, shapes, alignment, no shortcuts."""
import pickle

import numpy as np
import pytest

from avjax.data import synthetic
from avjax.data.synthetic import CLASS_NAMES, NUM_CLASSES, SyntheticWorld, WorldConfig


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(WorldConfig(num_clips=1000))


def _event_mask(events, times, margin=0.0):
    """[len(times)] bool: inside an event, shrunk by `margin` at both ends."""
    on, off = events[:, 0:1], events[:, 1:2]
    return np.any((times[None] >= on + margin) & (times[None] < off - margin), axis=0)


def _gap_mask(events, times, margin):
    """[len(times)] bool: at least `margin` away from every event."""
    on, off = events[:, 0:1], events[:, 1:2]
    return ~np.any((times[None] >= on - margin) & (times[None] < off + margin), axis=0)


def test_class_names():
    assert NUM_CLASSES == 10 and len(CLASS_NAMES) == 10 and len(set(CLASS_NAMES)) == 10
    assert CLASS_NAMES[0] == "red circle"


def test_deterministic_by_index_and_seed(world):
    other = SyntheticWorld(WorldConfig(num_clips=1000))
    for i in (0, 7, 999):
        np.testing.assert_array_equal(world.video(i, 0.3, 5, 16.0), other.video(i, 0.3, 5, 16.0))
        np.testing.assert_array_equal(world.audio(i, 0.3, 4000), other.audio(i, 0.3, 4000))
        np.testing.assert_array_equal(world.boxes(i, [0.1, 1.0]), other.boxes(i, [0.1, 1.0]))
        assert world.meta(i)["caption"] == other.meta(i)["caption"]
    # Another split or seed: other clips.
    for cfg in (WorldConfig(num_clips=1000, split="eval"), WorldConfig(num_clips=1000, seed=1)):
        w = SyntheticWorld(cfg)
        same = [np.array_equal(world.audio(i, 0, 1000), w.audio(i, 0, 1000)) for i in range(20)]
        assert not any(same)
        assert not np.array_equal(world.video(0, 0, 2, 16.0), w.video(0, 0, 2, 16.0))


def test_shapes_dtypes_and_ranges(world):
    cfg = world.config
    v = world.video(3, 0.25, 12, 16.0)
    assert v.shape == (12, 64, 64, 3) and v.dtype == np.uint8
    a = world.audio(3, 0.5, 48000)
    assert a.shape == (48000,) and a.dtype == np.float32
    assert np.all(np.abs(a) <= 1.0) and np.abs(a).max() > 0.01
    c = world.clip(3)
    frames = int(cfg.duration * cfg.fps)
    assert c["video"].shape == (frames, 64, 64, 3) and c["video"].dtype == np.uint8
    assert c["audio"].shape == (int(cfg.duration * cfg.sample_rate),) and c["audio"].dtype == np.float32
    assert c["boxes"].shape == (frames, 4) and c["boxes"].dtype == np.float32
    assert c["label"] == world.label(3) and isinstance(c["caption"], str)
    for i in range(50):
        m = world.meta(i)
        assert m["class_name"] == CLASS_NAMES[m["label"]] and m["class_name"] in m["caption"]
        ev = m["events"]
        assert ev.dtype == np.float32 and ev.ndim == 2 and ev.shape[1] == 2 and len(ev) >= 2
        assert np.all(ev[:, 0] < ev[:, 1]) and np.all(ev[1:, 0] >= ev[:-1, 1])
        assert ev.min() >= 0 and ev.max() <= cfg.duration
        b = world.boxes(i, np.linspace(0, cfg.duration, 9))
        assert np.all((b >= 0) & (b <= 1)) and np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1])
        assert len(m["distractors"]) <= cfg.max_distractors
        assert all(d["label"] != m["label"] for d in m["distractors"])


def test_class_balance(world):
    counts = np.bincount([world.label(i) for i in range(1000)], minlength=NUM_CLASSES) / 1000
    assert np.all((counts >= 0.05) & (counts <= 0.15)), counts


def test_overlapping_windows_agree(world):
    for i in (1, 2):
        # Video: the same frame time gives the same pixels, whatever the window or the rate.
        np.testing.assert_array_equal(world.video(i, 0.5, 8, 16.0)[4:], world.video(i, 0.75, 4, 16.0))
        np.testing.assert_array_equal(world.video(i, 0.2, 10, 25.0)[5:], world.video(i, 0.4, 5, 25.0))
        np.testing.assert_array_equal(world.video(i, 1.0, 3, 8.0), world.video(i, 1.0, 6, 16.0)[::2])
        # Audio: sample-exact.
        np.testing.assert_array_equal(world.audio(i, 1.0, 16000)[8000:], world.audio(i, 1.5, 8000))
        # The whole clip is the same as its windows.
        c = world.clip(i)
        np.testing.assert_array_equal(c["video"][20:28], world.video(i, 20 / 16, 8, 16.0))
        np.testing.assert_array_equal(c["audio"][12345:20000], world.audio(i, 12345 / 16000, 7655))
        np.testing.assert_array_equal(c["boxes"][5:7], world.boxes(i, [5 / 16, 6 / 16]))


def test_past_the_end(world):
    cfg = world.config
    last = world.video(4, cfg.duration - 1 / cfg.fps, 1, cfg.fps)[0]
    v = world.video(4, cfg.duration - 0.5, 16, 16.0)   # 8 frames in the clip, 8 past its end
    assert all(np.array_equal(f, last) for f in v[7:])
    a = world.audio(4, cfg.duration - 0.5, 16000)
    assert np.abs(a[:8000]).max() > 0 and not a[8000:].any()
    assert not world.audio(4, -1.0, 8000).any()       # before the start: silence
    np.testing.assert_array_equal(world.video(4, -1.0, 1, 16.0), world.video(4, 0.0, 1, 16.0))


def test_box_holds_the_sounding_object():
    """The object's pixels lie in its box and fill a good part of it. To find them whatever the
    background, the sounding object is repainted pure green (no object or background has it)."""
    world = SyntheticWorld(WorldConfig(num_clips=100))
    times = np.arange(0, 64, 3) / 16
    for i in range(30):
        world._clip_params(i).source.rgb = np.array([0, 255, 0], np.float32)
        frames = world.video(i, 0.0, 64, 16.0)[::3].astype(np.float32)
        green = np.linalg.norm(frames - np.array([0, 255, 0], np.float32), axis=-1) < 60
        for f, (x0, y0, x1, y1) in zip(green, world.boxes(i, times)):
            X0, Y0 = max(int(np.floor(x0 * 64)), 0), max(int(np.floor(y0 * 64)), 0)
            inside = f[Y0:int(np.ceil(y1 * 64)), X0:int(np.ceil(x1 * 64))]
            assert inside.sum() == f.sum(), i
            assert inside.mean() > 0.25, (i, inside.mean())


def test_the_object_moves_during_its_notes(world):
    """Motion energy in the sounding object's box is higher during events than between them."""
    fps, during, between = 32.0, [], []
    for i in range(40):
        m = world.meta(i)
        v = world.video(i, 0.0, 128, fps).astype(np.float32)
        diff = np.abs(np.diff(v, axis=0)).mean(-1)            # [T - 1, H, W]
        t = (np.arange(127) + 0.5) / fps                       # time of each frame pair
        box = world.boxes(i, t)
        energy = np.array([d[int(y0 * 64):int(np.ceil(y1 * 64)), int(x0 * 64):int(np.ceil(x1 * 64))].mean()
                           for d, (x0, y0, x1, y1) in zip(diff, box)])
        ev = m["events"]
        on, off = _event_mask(ev, t, margin=0.02), _gap_mask(ev, t, margin=0.05)
        if on.any() and off.any():
            during.append(energy[on].mean())
            between.append(energy[off].mean())
        # Between notes the box does not move at all; mid-note (at any time, off the frame grid)
        # it is lifted by the note's jump.
        rest = world.boxes(i, t[off])
        assert np.allclose(rest, rest[:1]) if off.any() else True
        if m["shape"] != "triangle" and ev[0, 0] > 0:  # symmetric box: its centre is the object's
            centre_y = lambda b: (b[:, 1] + b[:, 3]) / 2
            mids = ev.mean(1).astype(np.float64)
            seen = mids < world.config.duration - 1 / world.config.fps  # before the last frame
            lift = centre_y(world.boxes(i, [0.0])) - centre_y(world.boxes(i, mids[seen]))
            np.testing.assert_allclose(lift, m["jump_heights"][seen], atol=1e-4)
    during, between = np.array(during), np.array(between)
    assert np.mean(during > 1.5 * between) > 0.9, (during, between)


def test_audio_louder_during_notes(world):
    sr, ratios = world.config.sample_rate, []
    for i in range(40):
        a, ev = world.audio(i, 0.0, int(world.config.duration * sr)), world.meta(i)["events"]
        t = np.arange(a.size) / sr
        on, off = _event_mask(ev, t, margin=0.02), _gap_mask(ev, t, margin=0.05)
        if on.any() and off.any():
            ratios.append(np.sqrt(np.mean(a[on] ** 2) / np.mean(a[off] ** 2)))
    # The SNR is drawn in 6..24 dB (a struck bell fades before its offset, hence the median).
    assert np.min(ratios) > 1.3 and np.median(ratios) > 3, ratios


def test_instance_cues_shared_by_the_two_streams(world):
    """Size <-> loudness and shade <-> pitch: the same instance variable drives both streams.
    Shade is compared within a colour (hues differ in brightness), size across all clips."""
    size, loud, shade, pitch, labels = [], [], [], [], []
    for i in range(80):
        m = world.meta(i)
        if m["shape"] == "diamond":
            continue  # struck: its loudness depends on the note length too
        a, ev = world.audio(i, 0.0, 64000), m["events"]
        on = _event_mask(ev, np.arange(64000) / 16000, margin=0.02)
        size.append(m["size"]), loud.append(np.sqrt(np.mean(a[on] ** 2)))
        shade.append(np.mean(m["rgb"])), pitch.append(m["pitch_offset"]), labels.append(m["label"])
    rank = lambda x: np.argsort(np.argsort(x))
    assert np.corrcoef(rank(size), rank(loud))[0, 1] > 0.8
    shade, pitch, labels = np.array(shade), np.array(pitch), np.array(labels)
    per_colour = [np.corrcoef(rank(shade[labels == c]), rank(pitch[labels == c]))[0, 1]
                  for c in np.unique(labels) if np.sum(labels == c) >= 4]
    assert len(per_colour) >= 5 and min(per_colour) > 0.95, per_colour


def _ncm_accuracy(x_train, y_train, x_test, y_test):
    """Nearest class mean on standardised features."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-8
    x_train, x_test = (x_train - mu) / sd, (x_test - mu) / sd
    means = np.stack([x_train[y_train == c].mean(0) for c in range(NUM_CLASSES)])
    pred = np.argmin(((x_test[:, None] - means[None]) ** 2).sum(-1), axis=1)
    return float(np.mean(pred == y_test))


def test_no_global_statistic_shortcut():
    """A nearest-class-mean classifier on the mean RGB of the frames (fit on 500 train clips,
    tested on 500 eval clips) is at chance: measured 0.104 (chance 0.10; 0.158 on its own
    training clips): background and distractors draw from the object colours too.

    On the mean log-power spectrum (64 bands of 125 Hz, 1 s) it is higher but far from solving
    it: measured 0.276. The class is in the sound (register, timbre), but the melody spans ten
    semitones and the loudness and noise vary, so one mean spectrum does not give it away.
    """
    def features(split):
        w = SyntheticWorld(WorldConfig(num_clips=500, split=split))
        rgb, spec, labels = [], [], []
        for i in range(500):
            rgb.append(w.video(i, 0.0, 4, 1.0).reshape(-1, 3).mean(0))
            a = w.audio(i, 1.0, 16384).reshape(16, 1024) * np.hanning(1024)
            power = np.mean(np.abs(np.fft.rfft(a, axis=1)[:, :512]) ** 2, 0)
            spec.append(np.log(power.reshape(64, 8).mean(1) + 1e-10))
            labels.append(w.label(i))
        return np.array(rgb), np.array(spec), np.array(labels)

    rgb_tr, spec_tr, y_tr = features("train")
    rgb_te, spec_te, y_te = features("eval")
    acc_rgb = _ncm_accuracy(rgb_tr, y_tr, rgb_te, y_te)
    acc_spec = _ncm_accuracy(spec_tr, y_tr, spec_te, y_te)
    print(f"nearest class mean: mean RGB {acc_rgb:.3f}, mean log-power spectrum {acc_spec:.3f}")
    assert acc_rgb < 0.35
    assert acc_spec > 0.15  # above chance: the sound does carry the class


def test_caption_and_meta(world):
    m = world.meta(0)
    for key in ("label", "class_name", "caption", "events", "size", "shade", "pitch_offset", "rgb",
                "position", "snr_db", "noise", "distractors", "pitches_hz", "jump_heights"):
        assert key in m
    assert m["caption"].startswith("a ") and "bounces" in m["caption"]
    assert len(m["pitches_hz"]) == len(m["events"]) == len(m["jump_heights"])


def test_pickles_for_grain_workers(world):
    world.video(5, 0.0, 1, 16.0)
    clone = pickle.loads(pickle.dumps(world))
    np.testing.assert_array_equal(clone.video(5, 0.5, 3, 16.0), world.video(5, 0.5, 3, 16.0))


def test_bad_config_and_index():
    with pytest.raises(ValueError, match="split"):
        SyntheticWorld(WorldConfig(split="val"))
    with pytest.raises(ValueError, match="num_clips"):
        SyntheticWorld(WorldConfig(num_clips=0))
    with pytest.raises(IndexError, match="out of range"):
        SyntheticWorld(WorldConfig(num_clips=3)).video(3, 0.0, 1, 16.0)


def test_other_sizes_and_rates():
    w = SyntheticWorld(WorldConfig(num_clips=4, size=32, duration=2.0, fps=10.0, sample_rate=8000,
                                   max_distractors=0))
    c = w.clip(1)
    assert c["video"].shape == (20, 32, 32, 3) and c["audio"].shape == (16000,)
    assert w.meta(1)["distractors"] == []
    assert synthetic.SyntheticWorld(WorldConfig(size=128, num_clips=2)).video(0, 0, 2, 16.0).shape == (2, 128, 128, 3)
