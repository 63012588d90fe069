"""SSPL / SACL: the data readers, the similarity map, SACL's false negatives and positive pixels,
and (slow) training on the synthetic world against the centre-box prior and the random init."""
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile
from PIL import Image

from avjax import configs, evaluate, sharding, train
from avjax.data import localization_train as lt
from avjax.data import pipeline
from avjax.tasks import sacl, sspl
from conftest import REPO

SR = 16000


# --------------------------------------------------------------------------------------------
# Readers: frames (JPEG, a folder of frames) + audio (WAV at any rate, npz), bad files.
# --------------------------------------------------------------------------------------------

def make_folder(root, n=6, bad=()):
    """n clips: frames/<id>.jpg (a colour ramp), audio/<id>.wav (a tone: 1 s at 8 kHz for clip 0,
    tiled to 3 s; 4 s at 16 kHz otherwise); ids in list.txt. `bad` ids get broken files."""
    os.makedirs(os.path.join(root, "frames"))
    os.makedirs(os.path.join(root, "audio"))
    ids = [f"clip{i}" for i in range(n)]
    for i, name in enumerate(ids):
        img = np.zeros((120, 160, 3), np.uint8)
        img[..., 0] = np.linspace(0, 255, 160, dtype=np.uint8)[None]
        img[..., 1] = 20 * i
        Image.fromarray(img).save(os.path.join(root, "frames", name + ".jpg"), quality=95)
        rate, secs = (8000, 1.0) if i == 0 else (SR, 4.0)
        t = np.arange(int(rate * secs)) / rate
        soundfile.write(os.path.join(root, "audio", name + ".wav"), 0.5 * np.sin(2 * np.pi * 440 * t), rate)
    for name in bad:
        with open(os.path.join(root, "frames", name + ".jpg"), "wb") as f:
            f.write(b"\xff\xd8not a jpeg")
    with open(os.path.join(root, "list.txt"), "w") as f:
        f.write("\n".join(i + ".mp3" for i in ids) + "\n")  # a media extension is stripped
    return ids


def folder_config(root, **data):
    c = configs.localization_base("sspl", pcm=False)
    c.data.root = str(root)
    c.data.train_lists = {"flickr10k": "list.txt"}
    c.data.update(data)
    c.image.crop_size = 56
    c.data.num_threads = 1
    c.data.prefetch = 1
    return c


def test_folder_reader_frames_and_audio(tmp_path):
    ids = make_folder(str(tmp_path))
    src = lt.train_source(folder_config(tmp_path))
    assert [src.name(i) for i in range(len(src))] == ids
    frame = src.frame(1)
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8  # resized as the official h5
    assert frame[:, 0, 0].mean() < 30 and frame[:, -1, 0].mean() > 220  # the red ramp, kept left to right
    for i in (0, 1):  # clip 0: 1 s at 8 kHz -> resampled to 16 kHz, tiled to 3 s
        a = src.audio(i)
        assert a.shape == (48000,) and a.dtype == np.float32
        assert a.min() == pytest.approx(-1.0, abs=1e-6) and 0.99 < a.max() < 1.0  # normalize_audio
        spectrum = np.abs(np.fft.rfft(a))
        assert abs(np.argmax(spectrum[1:]) + 1 - 440 * 3) <= 3  # still a 440 Hz tone after 3 s
    # A folder of frames: the middle one (sorted), as SSPL's h5 script.
    os.makedirs(tmp_path / "frames" / "multi")
    for k, value in enumerate((10, 200, 90)):
        Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(tmp_path / "frames" / "multi" / f"{k:03d}.jpg")
    assert abs(int(lt.read_frame(str(tmp_path / "frames" / "multi"), 0)[0, 0, 0]) - 200) <= 2
    # npz audio with its own rate.
    np.savez(tmp_path / "a.npz", audio=np.sin(np.arange(8000) / 5).astype(np.float32), sample_rate=8000)
    assert lt.read_audio(str(tmp_path / "a.npz"), SR).shape == (16000,)


def test_center_window_and_normalize_match_the_official_arithmetic():
    x = np.arange(10, dtype=np.float32)
    w = lt.center_window(x, 25)  # tiled int(25 / 10) + 1 = 3 times, window from int(30 / 2) - int(25 / 2) = 3
    np.testing.assert_array_equal(w, np.tile(x, 3)[3:28])
    np.testing.assert_array_equal(lt.center_window(x, 4), x[3:7])
    n = lt.normalize_audio(np.array([2.0, 4.0, 6.0]))
    np.testing.assert_allclose(n, (np.array([0.0, 2.0, 4.0]) / (4.0 + 1e-3) - 0.5) * 2, rtol=1e-6)


def test_bad_files_are_skipped_counted_then_fatal_with_the_file_name(tmp_path):
    # The training stream replaces and counts them (pipeline.BadRecordCounter).
    make_folder(str(tmp_path / "a"), n=6, bad=("clip2",))
    before = pipeline.BAD_RECORDS["total"]
    batch = next(iter(pipeline.train_dataset(folder_config(tmp_path / "a"), 0, 1, 6)))
    assert set(batch) == {"image1", "image2", "audio"} and batch["audio"].shape == (6, 48000)
    assert pipeline.BAD_RECORDS["total"] == before + 1
    make_folder(str(tmp_path / "b"), n=6, bad=("clip2",))
    config = folder_config(tmp_path / "b")
    sample = lt.TrainSample(lt.train_source(config), lt.ViewSpec.from_config(config), None, 3)
    out = sample(2, np.random.default_rng(0))
    assert out["bad_records"] == 1 and out["image1"].shape == (56, 56, 3)  # clip 3 took its place
    # Many in a row: one line naming the last file.
    for name in ("clip3", "clip4"):
        os.remove(tmp_path / "b" / "audio" / f"{name}.wav")
    with pytest.raises(RuntimeError, match=r"3 unreadable clips in a row; the last: .*clip4\.wav: audio file not"):
        sample(2, np.random.default_rng(0))
    # Evaluation masks a bad clip out and counts it.
    ev = lt.EvalSample(lt.train_source(config), lt.ViewSpec.from_config(config))(2)
    assert ev["mask"] == 0 and ev["bad_records"] == 1


def test_user_errors_are_one_clear_line(tmp_path):
    with pytest.raises(ValueError, match="config.data.root is empty"):
        lt.train_source(folder_config(""))
    with pytest.raises(FileNotFoundError, match="no such folder"):
        lt.train_source(folder_config(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="config.data.train_lists.flickr10k: list file"):
        lt.train_source(folder_config(tmp_path))
    make_folder(str(tmp_path))
    with pytest.raises(ValueError, match="config.data.train_list='flickr144k'"):
        lt.train_source(folder_config(tmp_path, train_list="flickr144k"))
    with pytest.raises(ValueError, match="config.image.train_resize='bogus'"):
        lt.ViewSpec(train_resize="bogus")


def test_views_follow_the_official_geometry():
    rng = np.random.default_rng(0)
    frame = np.asarray(Image.fromarray((np.indices((256, 256)).sum(0) % 256).astype(np.uint8)).convert("RGB"))
    mask = np.zeros((256, 256), np.uint8)
    mask[:, 128:] = 7                                              # right half: segment 7
    frame = frame.copy()
    frame[:, :128, 2] = 0
    frame[:, 128:, 2] = 255                                        # ... painted blue in the image
    for kind in ("short_side", "square"):
        spec = lt.ViewSpec(crop=224, train_resize=kind)
        for _ in range(6):
            img, m = lt.train_view(frame, rng, spec, mask)
            assert img.shape == (224, 224, 3) and m.shape == (224, 224)
            assert set(np.unique(m)) <= {0, 7}                     # nearest: no blended labels
            # The mask went through the same crop and flip: segment 7 is where the blue is.
            blue = img[..., 2] > 200
            assert (blue == (m == 7)).mean() > 0.99
    quirk = lt.ViewSpec(crop=224, train_resize="square", mask_resize="bicubic")
    labels = np.zeros((256, 256), np.uint8)
    labels[:, 101:], labels[:77, 180:] = 40, 90
    _, m = lt.train_view(frame, rng, quirk, labels)
    assert len(set(np.unique(m)) - {0, 40, 90}) > 0                # bicubic on labels: the quirk blends them
    wide = np.zeros((300, 400, 3), np.uint8)
    assert lt.test_view(wide, lt.ViewSpec(crop=224)).shape == (224, 224, 3)
    assert lt.test_view(wide, lt.ViewSpec(crop=224, test_resize="square")).shape == (224, 224, 3)


def test_pseudo_masks():
    g = lt.grid_mask(8, 2, np.random.default_rng(0))
    assert sorted(np.unique(g)) == [0, 1, 2, 3] and (g[:4, :4] == g[0, 0]).all() and (g[4:, 4:] == g[7, 7]).all()
    # Two flat colours (plus mild noise): two segments along the boundary; min_size merges specks.
    img = np.zeros((40, 48, 3), np.uint8)
    img[:, 24:] = (200, 40, 40)
    img = (img + np.random.default_rng(0).integers(0, 4, img.shape)).astype(np.uint8)
    seg = lt.felzenszwalb_numpy(img, scale=100, sigma=0.5, min_size=50)
    assert len(np.unique(seg)) == 2 and len(np.unique(seg[:, :24])) == 1 and seg[0, 0] != seg[0, -1]
    img[5:8, 5:8] = 255  # a 9-pixel speck joins its surroundings under min_size 50
    seg = lt.felzenszwalb_numpy(img, scale=100, sigma=0.5, min_size=50)
    assert len(np.unique(seg)) == 2
    skimage = pytest.importorskip("skimage.segmentation")
    photo = np.asarray(Image.fromarray(img).resize((64, 64)))
    ours = lt.felzenszwalb_numpy(photo, 300, 0.5, 40)
    ref = skimage.felzenszwalb(photo, scale=300, sigma=0.5, min_size=40, channel_axis=-1)
    np.testing.assert_array_equal(ours, ref)


# --------------------------------------------------------------------------------------------
# The similarity map (SSPL) and SACL's loss pieces.
# --------------------------------------------------------------------------------------------

def test_att_map_weight_matches_numpy():
    rng = np.random.default_rng(0)
    feat = rng.standard_normal((3, 5, 5, 8)).astype(np.float32)
    g = rng.standard_normal((3, 8)).astype(np.float32)
    f_av, s = sspl.att_map_weight(jnp.asarray(feat), jnp.asarray(g))
    fn = feat / np.linalg.norm(feat, axis=-1, keepdims=True)
    s_ref = np.einsum("bhwc,bc->bhw", fn, g / np.linalg.norm(g, axis=-1, keepdims=True))
    lo, hi = s_ref.min((1, 2), keepdims=True), s_ref.max((1, 2), keepdims=True)
    att = (s_ref - lo) / (hi - lo + 1e-10)
    np.testing.assert_allclose(s, s_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f_av, np.einsum("bhwc,bhw->bc", feat, att), rtol=1e-4, atol=1e-5)


def test_false_negatives_keep_the_least_similar_and_the_diagonal():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((8, 4))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    fn = np.asarray(sacl.false_negatives(jnp.asarray(a, jnp.float32), 0.75))
    sim = a @ a.T
    for i in range(8):
        keep = set(np.argsort(sim[i])[:6].tolist()) | {i}
        assert set(np.flatnonzero(~fn[i]).tolist()) == keep      # int(0.75 * 8) = 6 negatives + itself
        assert fn[i].sum() == 8 - len(keep)


def test_binary_map_and_positive_pixels():
    s = jnp.asarray(np.arange(16, dtype=np.float32).reshape(1, 4, 4))
    b = np.asarray(sacl.binary_map(s, 0.5))
    assert b.sum() == 7 and b.reshape(-1)[9:].all()             # > sorted[8]: the top 7 of 16
    # Masks 8x8 -> 4x4 nearest; view 1 segments {0, 3} (left / right), view 2 segments {0, 3, 5}.
    s1 = jnp.asarray(np.tile(np.arange(4, dtype=np.float32), (4, 1))[None])     # right half hot
    m1 = np.zeros((1, 8, 8), np.int32)
    m1[:, :, 4:] = 3
    m2 = m1.copy()
    m2[:, :2] = 5
    s2 = s1
    # bin = column 3 (> sorted[8] = 2/3, or the max); resized masks: segment 3 = columns 2-3 (view 2:
    # rows 1-3, row 0 is segment 5).
    p1, p2 = map(np.asarray, sacl.positive_masks(s1, s2, jnp.asarray(m1), jnp.asarray(m2), 0.5))
    col3 = np.zeros((4, 4))
    col3[:, 3] = 1
    np.testing.assert_array_equal(p1[0], col3)                       # bin & segment 3 (the largest overlap)
    np.testing.assert_array_equal(p2[0], col3 * (np.arange(4) >= 1)[:, None])  # view 2: bin & its segment 3
    # View 2's pick empty -> the whole segment.
    s2_cold = jnp.asarray(np.tile(np.arange(4, 0, -1, dtype=np.float32), (4, 1))[None])  # left half hot
    _, p2 = map(np.asarray, sacl.positive_masks(s1, s2_cold, jnp.asarray(m1), jnp.asarray(m2), 0.5))
    np.testing.assert_array_equal(p2[0], (np.asarray(sacl.resize_nearest(jnp.asarray(m2), 4, 4))[0] == 3))
    # A single segment in either view: positives = the binary maps.
    p1, p2 = map(np.asarray, sacl.positive_masks(s1, s2, jnp.zeros((1, 8, 8), jnp.int32), jnp.asarray(m2), 0.5))
    np.testing.assert_array_equal(p1, np.asarray(sacl.binary_map(s1, 0.5)))
    # No id shared by the views: positives = the binary maps too.
    p1, _ = map(np.asarray, sacl.positive_masks(s1, s2, jnp.asarray(m1 + 10), jnp.asarray(m2 + 20), 0.5))
    np.testing.assert_array_equal(p1, np.asarray(sacl.binary_map(s1, 0.5)))


def test_masked_logits_and_temperature():
    rng = np.random.default_rng(2)
    v = jnp.asarray(rng.standard_normal((4, 3, 3, 6)), jnp.float32)
    g = jnp.asarray(rng.standard_normal((4, 6)), jnp.float32)
    pos = jnp.zeros((4, 3, 3)).at[:, 1, 1].set(1.0)
    s = np.asarray(sacl.masked_max_similarity(v, pos, g))
    vn = np.asarray(v) / np.linalg.norm(np.asarray(v), axis=-1, keepdims=True)
    gn = np.asarray(g) / np.linalg.norm(np.asarray(g), axis=-1, keepdims=True)
    np.testing.assert_allclose(s, np.maximum(vn[:, 1, 1] @ gn.T, 0.0), rtol=1e-5, atol=1e-6)  # masked pixels are 0
    cfg = configs.ml_collections.ConfigDict(dict(ratio_neg=0.5, ratio_retain_sim=0.5, temperature=0.005,
                                                 contrast_batch=4))
    a = jnp.eye(4, 6)
    smap = jnp.asarray(rng.standard_normal((4, 3, 3)), jnp.float32)
    out = {"a": a, "g": g, "v1": v, "v2": v, "s1": smap, "s2": smap}
    m = jnp.zeros((4, 6, 6), jnp.int32)
    loss, stats = sacl.sacl_loss(out, m, m, cfg)
    fn = np.asarray(sacl.false_negatives(a, 0.5))
    assert stats["false_negatives"] == fn.sum(1).mean() == 1.0       # 4 - 2 negatives - itself
    # One segment -> positives = the top of each map; the false negatives' logits are -10 / tau.
    pos, _ = sacl.positive_masks(smap, smap, m, m, 0.5)
    assert np.asarray(pos).sum() == 4 * 4                            # > sorted[4] of 9, or the max
    logits = np.where(fn, -10.0, np.asarray(sacl.masked_max_similarity(v, pos, g))) / 0.005
    ce = np.mean(np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1) - np.diag(logits))
    np.testing.assert_allclose(float(loss), 2 * ce, rtol=1e-4)
    with pytest.raises(ValueError, match="contrast_batch=3"):
        sacl.sacl_loss(out, m, m, configs.ml_collections.ConfigDict(dict(cfg, contrast_batch=3)))


def test_adamw_with_group_weight_decay_matches_torch():
    # SSPL's optimiser: AdamW, the PCM rates in a group without weight decay.
    torch = pytest.importorskip("torch")
    import optax
    from avjax import optim
    cfg = configs.ml_collections.ConfigDict(dict(name="adamw", b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-2, groups=[
        dict(name="a", regex="^a", schedule="constant", lr=0.1),
        dict(name="b", regex="^b", schedule="constant", lr=0.05, weight_decay=0.0)]))
    p = {"a": jnp.array([1.0, -2.0]), "b": jnp.array([0.5, 3.0])}
    tx, _ = optim.make_optimizer(cfg, 10, p)
    state = tx.init(p)
    ta, tb = torch.tensor([1.0, -2.0], requires_grad=True), torch.tensor([0.5, 3.0], requires_grad=True)
    topt = torch.optim.AdamW([{"params": [ta], "lr": 0.1}, {"params": [tb], "lr": 0.05, "weight_decay": 0.0}],
                             weight_decay=1e-2)
    for k in range(3):
        g = {"a": jnp.array([0.3, -0.1]) * (k + 1), "b": jnp.array([-0.2, 0.4])}
        u, state = tx.update(g, state, p)
        p = optax.apply_updates(p, u)
        ta.grad, tb.grad = torch.tensor(np.asarray(g["a"])), torch.tensor(np.asarray(g["b"]))
        topt.step()
    np.testing.assert_allclose(p["a"], ta.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(p["b"], tb.detach().numpy(), atol=1e-5)


def test_pretrained_weights_go_where_the_part_lives():
    c = configs.localization_base("sspl")
    with pytest.raises(ValueError, match="config.model.visual_weights is empty: .*avjax import-weights --arch vgg16"):
        sspl.load_pretrained({}, {}, config=c)
    spec = "configs/localization/synthetic.py:method=sspl,backbones=/no/such/run"
    tiny = configs.load_config(os.path.join(REPO, spec))
    with pytest.raises(ValueError, match="visual_weights='/no/such/run' is not a training workdir"):
        sspl.load_pretrained({}, {}, config=tiny)
    # A frozen part is replaced in the model state's "frozen" collection, on its sharding.
    kernel = np.ones((3, 3, 3, 4), np.float32)
    state = {"params": {"enc": {"sound_fc_0": {"kernel": jnp.zeros((2, 2))}}},
             "model_state": {"frozen": {"enc": {"frame_net": {"conv1_1": {"kernel": jnp.zeros_like(kernel)}}}}}}
    sh = jax.tree.map(lambda x: jax.sharding.SingleDeviceSharding(jax.devices()[0]), state)
    out = sspl._place(state, sh, "frame_net", {"params": {"conv1_1": {"kernel": kernel}}}, "w")
    np.testing.assert_array_equal(out["model_state"]["frozen"]["enc"]["frame_net"]["conv1_1"]["kernel"], kernel)
    assert state["model_state"]["frozen"]["enc"]["frame_net"]["conv1_1"]["kernel"].sum() == 0  # not in place
    with pytest.raises(ValueError, match="w: the weights do not match the model's frame_net"):
        sspl._place(state, sh, "frame_net", {"params": {"conv1_1": {"kernel": kernel[:2]}}}, "w")


def test_frozen_tiny_encoders_keep_their_batch_norm_statistics():
    enc = sspl.Encoders(visual="tiny", audio="tiny", out_dim=8, tiny_visual_widths=(4, 4, 4),
                        tiny_audio_widths=(4, 4, 4), visual_dim=8, frozen=("frame_net",))
    image, spec = jnp.ones((2, 16, 16, 3)), jnp.ones((2, 1, 96, 64))
    variables = enc.init(jax.random.PRNGKey(0), image, spec, True,
                         method=lambda m, i, s, t: (m.encode_image(i, t), m.encode_audio(s, t)))
    _, new = enc.apply(variables, image * 3.0, True, method=sspl.Encoders.encode_image, mutable=["batch_stats"])
    assert jax.tree.all(jax.tree.map(np.array_equal, new["batch_stats"]["frame_net"],
                                     variables["batch_stats"]["frame_net"]))  # a fixed function
    _, new = enc.apply(variables, spec * 3.0, True, method=sspl.Encoders.encode_audio, mutable=["batch_stats"])
    assert not np.array_equal(new["batch_stats"]["sound_net"]["bn0"]["mean"],
                              variables["batch_stats"]["sound_net"]["bn0"]["mean"])  # trainable: updates


def test_recipes_follow_the_paper():
    flickr = configs.load_config(os.path.join(REPO, "configs/localization/sspl_flickr.py:train_list=flickr144k"))
    assert flickr.task == "sspl" and flickr.model.pcm and flickr.model.cycs_pcm == 4 and flickr.seed == 1234
    assert flickr.total_steps == 20 * 563 and flickr.batch_size == 256 and flickr.optim.name == "adamw"
    lrs = {g.name: g.lr for g in flickr.optim.groups}
    assert lrs == {"sound_fc": 2e-5, "pcm_rates": 2e-5, "pcm": 2e-5, "head": 5e-5}
    assert flickr.optim.groups[1].weight_decay == 0.0 and flickr.model.frozen == ("frame_net", "sound_net")
    nopcm = configs.load_config(os.path.join(REPO, "configs/localization/sspl_vggsound.py:pcm=False"))
    assert {g.name: g.lr for g in nopcm.optim.groups} == {"sound_fc": 5e-4, "head": 2e-3}
    assert nopcm.total_steps == 100 * 40 and nopcm.data.test_set == "vggss"
    s = configs.load_config(os.path.join(REPO, "configs/localization/sacl_vggsound.py:train_list=vggsound144k"))
    assert s.task == "sacl" and s.loss.temperature == 0.005 and s.loss.contrast_batch == 64 and s.seed == 12345
    assert s.model.visual == "resnet18" and s.model.frozen == () and s.data.pseudo_mask == "felzenszwalb"
    assert s.image.train_resize == s.image.test_resize == "square" and s.image.aug.enabled
    with pytest.raises(ValueError, match="train_list='flickr5k'"):
        configs.load_config(os.path.join(REPO, "configs/localization/sacl_flickr.py:train_list=flickr5k"))


# --------------------------------------------------------------------------------------------
# End to end: the official folder layout through `avjax train` / `avjax eval` (overlays).
# --------------------------------------------------------------------------------------------

def tiny_model(c):
    c.model.visual, c.model.audio, c.model.frozen = "tiny", "tiny", ()
    c.model.visual_dim = c.model.out_dim = 16
    c.model.tiny_visual_widths, c.model.tiny_audio_widths = (8, 8, 16), (8, 8, 8)
    c.model.proj_hidden = c.model.proj_dim = 32
    c.model.pred_hidden = 16
    c.optim.groups = [configs.ml_collections.ConfigDict(dict(name="all", regex=".*", schedule="constant", lr=1e-3))]


def test_folder_layout_trains_and_avjax_eval_writes_overlays(tmp_path, capsys):
    from avjax import cli
    root = tmp_path / "flickr"
    ids = make_folder(str(root), n=8)
    os.makedirs(root / "test" / "Annotations")
    for sub in ("frames", "audio"):
        os.symlink(root / sub, root / "test" / sub)
    for i, name in enumerate(ids[:5]):  # two annotators agree on a box
        box = (20 + 10 * i, 30, 150, 200)
        xml = "".join(f"<object><bbox><label>{k}</label><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}"
                      f"</xmax><ymax>{box[3]}</ymax></bbox></object>" for k in range(2))
        (root / "test" / "Annotations" / f"{name}.xml").write_text(f"<annotation>{xml}</annotation>")
    (root / "flickr_test249_in5k.csv").write_text("\n".join(ids[:5]) + "\n")
    (root / "flickr_10k.txt").write_text("\n".join(ids) + "\n")
    workdir = str(tmp_path / "run")
    # A wrong root is one line on stderr and exit status 2.
    assert cli.main(["train", "--config", f"configs/localization/sspl_flickr.py:root={tmp_path}/nope",
                     "--workdir", workdir]) == 2
    assert "config.data.root=" in capsys.readouterr().err
    config = configs.load_config(os.path.join(REPO, f"configs/localization/sspl_flickr.py:pcm=False,root={root}"))
    config.update(dict(total_steps=2, batch_size=4, eval_batch_size=5, eval_every=0, mesh=[("data", 1), ("fsdp", 1)]))
    config.image.crop_size = 56
    config.data.num_workers = 0
    config.eval.num_overlays = 3
    tiny_model(config)
    result = train.train(config, workdir)
    assert result["num_images"] == 5 and 0.0 <= result["ciou@0.5"] <= 1.0 and "center_prior_auc" in result
    assert cli.main(["eval", "--workdir", workdir]) == 0
    with open(os.path.join(workdir, "eval.json")) as f:
        assert json.load(f)["num_images"] == 5
    pngs = sorted(os.listdir(os.path.join(workdir, "overlays")))
    assert pngs == [f"{i}.png" for i in ids[:3]]
    assert Image.open(os.path.join(workdir, "overlays", pngs[0])).size == (224, 224)
    assert cli.main(["eval", "--workdir", workdir, "--random_init"]) == 0
    assert os.path.exists(os.path.join(workdir, "eval_random_init.json"))
    assert len(os.listdir(os.path.join(workdir, "random_init", "overlays"))) == 3


# --------------------------------------------------------------------------------------------
# Learning on the synthetic world (a sounding object among distractors): trained vs the
# centre-box prior vs the random init, SSPL protocol, 200 held-out clips.
# --------------------------------------------------------------------------------------------

def train_and_compare(spec: str, workdir: str) -> tuple[dict, dict]:
    config = configs.load_config(os.path.join(REPO, f"configs/localization/synthetic.py:{spec}"))
    config.log_every = 50
    t0 = time.time()
    trained = train.train(config, workdir)
    seconds = time.time() - t0
    setup = train.Setup(config, sharding.make_mesh(config.mesh))
    random = evaluate.run_evaluators(setup, setup.variables(setup.init_state()))
    print(f"\n{spec}: {config.total_steps} steps + evaluation in {seconds:.0f} s")
    for k in ("ciou@0.5", "auc", "mean_ciou"):
        print(f"  {k:<10} trained {trained[k]:.3f}   centre prior {trained['center_prior_' + k]:.3f}   "
              f"random init {random[k]:.3f}")
    return trained, random


@pytest.mark.slow(500)
def test_sacl_learns_to_localize_and_sspl_learns_on_its_frozen_encoders(tmp_path):
    sacl_dir = str(tmp_path / "sacl")
    trained, random = train_and_compare("method=sacl", sacl_dir)
    # Measured (400 steps, 200 clips, 96-px frames): cIoU@0.5 0.675, AUC 0.577; centre prior 0.085,
    # 0.305; random init 0.00, 0.08. The papers' regime (and issue #4's bar) is cIoU@0.5 >= 0.6.
    assert trained["ciou@0.5"] >= 0.6
    assert trained["ciou@0.5"] >= trained["center_prior_ciou@0.5"] + 0.4
    assert trained["ciou@0.5"] >= random["ciou@0.5"] + 0.4
    assert trained["auc"] >= trained["center_prior_auc"] + 0.15 and trained["auc"] >= random["auc"] + 0.3

    # SSPL (with PCM) freezes pretrained encoders; here they are this SACL run's. Its "random init"
    # keeps them and starts sound_fc, the PCM and the head afresh. Measured (250 steps, the official
    # learning rates x 10): cIoU@0.5 0.53, AUC 0.443 against 0.235 / 0.31 at that init (SSPL from
    # scratch: 0.115).
    trained, random = train_and_compare(f"method=sspl,pcm=True,backbones={sacl_dir}", str(tmp_path / "sspl"))
    assert trained["ciou@0.5"] >= trained["center_prior_ciou@0.5"] + 0.3
    assert trained["ciou@0.5"] >= random["ciou@0.5"] + 0.15
    assert trained["auc"] >= trained["center_prior_auc"] + 0.1 and trained["auc"] >= random["auc"] + 0.07
