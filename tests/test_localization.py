"""Localization metrics, test-set readers and overlays on hand-computed cases."""
import json
import math
import os
import warnings

import jax
import numpy as np
import pytest
from PIL import Image

from avjax.data import localization_sets as sets
from avjax.evaluators import localization as loc
from test_audio import _torch_bicubic_1d  # noqa: E402


# --------------------------------------------------------------------------------------------
# Resizing against per-pixel NumPy references of the official functions
# --------------------------------------------------------------------------------------------

def cv2_linear_reference(x, out_h, out_w):
    """cv2.resize(INTER_LINEAR) pixel by pixel: half-pixel source, clamped at the borders."""
    def coord(o, n_in, n_out):
        f = (o + 0.5) * n_in / n_out - 0.5
        s = math.floor(f)
        f -= s
        if s < 0:
            s, f = 0, 0.0
        if s >= n_in - 1:
            s, f = n_in - 1, 0.0
        return s, min(s + 1, n_in - 1), f

    out = np.zeros((out_h, out_w))
    for oy in range(out_h):
        y0, y1, fy = coord(oy, x.shape[0], out_h)
        for ox in range(out_w):
            x0, x1, fx = coord(ox, x.shape[1], out_w)
            top = x[y0, x0] * (1 - fx) + x[y0, x1] * fx
            bottom = x[y1, x0] * (1 - fx) + x[y1, x1] * fx
            out[oy, ox] = top * (1 - fy) + bottom * fy
    return out


def torch_align_corners_reference(x, out_h, out_w):
    """F.interpolate(bilinear, align_corners=True): src = o * (in - 1) / (out - 1)."""
    def coord(o, n_in, n_out):
        src = o * (n_in - 1) / (n_out - 1)
        s = int(math.floor(src))
        return s, s + 1 if s < n_in - 1 else s, src - s

    out = np.zeros((out_h, out_w))
    for oy in range(out_h):
        y0, y1, fy = coord(oy, x.shape[0], out_h)
        for ox in range(out_w):
            x0, x1, fx = coord(ox, x.shape[1], out_w)
            out[oy, ox] = ((x[y0, x0] * (1 - fx) + x[y0, x1] * fx) * (1 - fy)
                           + (x[y1, x0] * (1 - fx) + x[y1, x1] * fx) * fy)
    return out


def torch_bicubic_reference(x, out_h, out_w):
    """F.interpolate(bicubic, align_corners=False), separably with the audio tests' ATen transcription."""
    return _torch_bicubic_1d(_torch_bicubic_1d(x, out_w, False).T, out_h, False).T


def test_bilinear_hand_values():
    x = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    # Half-pixel (cv2): source columns -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
    np.testing.assert_allclose(loc.resize_maps(x, (4, 4), "bilinear")[0, 0], [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(loc.resize_maps(x, (4, 4), "bilinear")[0, :, 0], [0.0, 0.5, 1.5, 2.0])
    # align_corners: the corners are the input's, the centre their mean.
    np.testing.assert_allclose(loc.resize_maps(x, (3, 3), "bilinear_align_corners")[0],
                               [[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]])
    # Each interpolation matrix row sums to 1 (a constant map stays constant).
    for method in loc.RESIZES:
        np.testing.assert_allclose(loc.interpolation_matrix(7, 224, method).sum(1), np.ones(224), atol=1e-6)


@pytest.mark.parametrize("method,reference,tol", [
    ("bilinear", cv2_linear_reference, 1e-12),
    ("bilinear_align_corners", torch_align_corners_reference, 1e-12),
    ("bicubic", torch_bicubic_reference, 1e-5),  # its weights are float32, as torch's
])
def test_resize_matches_reference(method, reference, tol):
    x = np.random.default_rng(0).normal(size=(5, 7))
    got = loc.resize_maps(x[None], (40, 51), method)[0]
    np.testing.assert_allclose(got, reference(x, 40, 51), atol=tol)


def test_cv2_linear_equals_jax_linear_when_upsampling():
    x = np.random.default_rng(1).normal(size=(14, 14)).astype(np.float32)
    ours = loc.resize_maps(x[None], (224, 224), "bilinear")[0]
    theirs = np.asarray(jax.image.resize(x, (224, 224), "linear"))
    assert np.max(np.abs(ours - theirs)) < 1e-5


# --------------------------------------------------------------------------------------------
# cIoU, thresholds, AUC
# --------------------------------------------------------------------------------------------

def columns_map(spans, size=224):
    """[size, size] map with `value` on columns [start, end) for each (start, end, value)."""
    m = np.zeros((size, size))
    for start, end, value in spans:
        m[:, start:end] = value
    return m


def test_ciou_consensus_hand_case():
    # gt: 1 on columns [0, 112), 0.5 on [112, 168); prediction columns [56, 196).
    gt = columns_map([(0, 112, 1.0), (112, 168, 0.5)])
    pred = columns_map([(56, 196, 1.0)])
    # inter = 224 * (56 * 1 + 56 * 0.5) = 224 * 84; union = sum(gt) + pred on gt == 0 = 224 * (140 + 28).
    ciou = loc.ciou_per_image(pred[None], gt[None])
    np.testing.assert_allclose(ciou, [84 / 168])
    metrics = loc.localization_metrics(pred[None], gt[None])
    assert metrics["ciou@0.5"] == 1.0  # cIoU >= 0.5 counts: exactly 0.5 is a success
    # Predicting every gt > 0 pixel, and nothing else, is perfect whatever the consensus values.
    assert loc.ciou_per_image((gt > 0)[None].astype(float), gt[None])[0] == 1.0


def test_perfect_14x14_map_gives_ciou_one_through_the_sspl_resize():
    # Full-height box on whole 16-px cells: the cv2-bilinear upsampled map crosses 0.5 between the
    # last pixel of one cell and the first of the next (values 0.46875 and 0.53125).
    heat = np.zeros((14, 14))
    heat[:, 2:12] = 0.7
    gt = sets.box_union_map(np.array([[32, 0, 192, 224]]))
    assert loc.localization_metrics(heat[None] - 0.2, gt[None]) == {
        "ciou@0.5": 1.0, "mean_ciou": 1.0, "auc": pytest.approx(1.0), "num_images": 1}
    # One cell to the right: columns [48, 208) against [32, 192).
    shifted = np.roll(heat, 1, axis=1)
    np.testing.assert_allclose(loc.ciou_per_image(shifted[None], gt[None]), [144 / 176])


def test_fixed_and_median_thresholds():
    ramp = np.tile(np.arange(224.0), (224, 1))  # normalised: column / 223
    right_half = columns_map([(112, 224, 1.0)])
    # sspl: column / 223 >= 0.5 <=> column >= 111.5; ezvsl: sort(h)[25088] is column 112 too.
    for protocol in ("sspl", "ezvsl"):
        assert loc.ciou_per_image(ramp[None], right_half[None], protocol)[0] == 1.0
    # A skewed map separates them: squared ramp crosses 0.5 at column 157.7, its median is still 112.
    skewed = ramp ** 2
    sspl_pred = loc.predicted_masks(skewed[None], (224, 224), "sspl")[0]
    ezvsl_pred = loc.predicted_masks(skewed[None], (224, 224), "ezvsl")[0]
    assert sspl_pred[0].argmax() == 158 and sspl_pred.sum() == 224 * 66
    assert ezvsl_pred[0].argmax() == 112 and ezvsl_pred.sum() == 224 * 112
    np.testing.assert_allclose(loc.ciou_per_image(skewed[None], right_half[None], "sspl"), [66 / 112])


def test_constant_maps_are_defined():
    gt = columns_map([(0, 56, 1.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sspl = loc.ciou_per_image(np.full((1, 14, 14), 3.0), gt[None], "sspl")
        ezvsl = loc.ciou_per_image(np.full((1, 7, 7), 3.0), gt[None], "ezvsl")
        empty = loc.ciou_per_image(np.full((1, 7, 7), 3.0), np.zeros((1, 224, 224)), "sspl")
    # SSPL's NaN map predicts nothing: cIoU 0. EZ-VSL's median on a constant map predicts all: 56 / 224.
    assert sspl[0] == 0.0 and ezvsl[0] == 0.25 and empty[0] == 0.0


def test_auc_endpoints_and_threshold_rounding():
    assert loc.summarize_ciou(np.ones(3))["auc"] == pytest.approx(1.0)
    # All zero: only x_0 = 0 is passed, AUC = 0.05 * (1 + 0) / 2.
    assert loc.summarize_ciou(np.zeros(3))["auc"] == pytest.approx(0.025)
    # x_3 = 0.05 * 3 = 0.15000000000000002 > 0.15, as in the official list (0.175 if it were 0.15);
    # x_2 = 0.1 exactly, so 0.1 passes it.
    assert loc.summarize_ciou([0.15])["auc"] == pytest.approx(0.05 * (1 + 1 + 0.5))
    assert loc.summarize_ciou([0.1])["auc"] == pytest.approx(0.05 * (1 + 1 + 0.5))
    m = loc.summarize_ciou([1.0, 0.5, 0.49, 0.0])
    assert m["ciou@0.5"] == 0.5 and m["mean_ciou"] == pytest.approx(0.4975) and m["num_images"] == 4
    # y = 1, .75 (k = 1..9), .5 (k = 10), .25 (k = 11..20).
    assert m["auc"] == pytest.approx(0.05 * ((1 + .75) / 2 + 8 * .75 + (.75 + .5) / 2 + (.5 + .25) / 2 + 9 * .25))


def test_chunks_and_sequences_give_the_same_values():
    rng = np.random.default_rng(2)
    heat = rng.normal(size=(70, 4, 4))
    gt = (rng.random((70, 16, 16)) > 0.6).astype(np.float32)
    batched = loc.ciou_per_image(heat, list(gt), "ezvsl", resize="bicubic")
    single = [loc.ciou_per_image(heat[i:i + 1], gt[i:i + 1], "ezvsl", resize="bicubic")[0] for i in (0, 63, 64, 69)]
    np.testing.assert_allclose(batched[[0, 63, 64, 69]], single)
    assert batched.shape == (70,) and np.all((batched >= 0) & (batched <= 1))
    with pytest.raises(ValueError, match="protocol='cam'"):
        loc.localization_metrics(heat, gt, protocol="cam")


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------

def flickr_xml(boxes):
    body = "".join(f"<object><bbox><label>{k}</label><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
                   f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bbox></object>" for k, b in enumerate(boxes))
    return f"<annotation><filename>x.jpg</filename>{body}</annotation>"


def test_flickr_consensus_map(tmp_path):
    path = tmp_path / "123.xml"
    # 256-px boxes -> 224: int(224 * v / 256); 100 -> 87 (87.5 truncated), 255 -> 223.
    path.write_text(flickr_xml([(0, 0, 128, 128), (64, 64, 192, 192), (100, 200, 255, 256)]))
    boxes = sets.read_flickr_boxes(str(path))
    np.testing.assert_array_equal(boxes, [[0, 0, 112, 112], [56, 56, 168, 168], [87, 175, 223, 224]])
    gt = sets.load_flickr_gt(str(tmp_path), ["123"])[0]
    assert gt.shape == (224, 224) and gt.dtype == np.float32
    assert gt[60, 60] == 1.0 and gt[10, 10] == 0.5 and gt[150, 150] == 0.5 and gt[200, 100] == 0.5
    assert gt[10, 200] == 0.0 and set(np.unique(gt)) == {0.0, 0.5, 1.0}
    # Sum = (areas) / 2: one pair overlaps (2 votes -> 1), no pixel has 3.
    assert gt.sum() == (112 * 112 + 112 * 112 + 136 * 49) / 2
    # Three agreeing annotators: 3 / 2 clipped to 1.
    triple = sets.flickr_consensus_map(np.array([[0, 0, 10, 10]] * 3))
    assert triple.max() == 1.0 and triple.sum() == 100.0


def test_flickr_bad_files_name_the_file(tmp_path):
    (tmp_path / "broken.xml").write_text("<annotation><object>")
    (tmp_path / "short.xml").write_text("<a><o><bbox><l>0</l><x>1</x><y>2</y></bbox></o></a>")
    (tmp_path / "empty.xml").write_text("<annotation><filename>x</filename></annotation>")
    for name, message in [("broken", "not valid XML"), ("short", "a <bbox> has fields"),
                          ("empty", "no <bbox> found"), ("absent", "annotation file not found")]:
        with pytest.raises((ValueError, FileNotFoundError)) as err:
            sets.load_flickr_gt(str(tmp_path), [name])
        text = str(err.value)
        assert f"{name}.xml" in text and message in text and "\n" not in text


def test_vggss_box_union(tmp_path):
    path = tmp_path / "vggss.json"
    path.write_text(json.dumps([
        {"file": "a_000030", "class": "cello", "bbox": [[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75]]},
        {"file": "b_000010", "class": "drum", "bbox": [[-0.1, 0.5, 1.2, 1.0]]},
        {"file": "c_000000", "class": "elk", "bbox": [[0.403125, 0.253125, 0.6, 0.75]]},
    ]))
    boxes = sets.read_vggss_boxes(str(path))
    np.testing.assert_array_equal(boxes["b_000010"], [[0, 112, 268, 224]])  # negative clipped at 0
    np.testing.assert_array_equal(boxes["c_000000"], [[90, 56, 134, 168]])  # int() truncates
    ids, maps = sets.load_vggss_gt(str(path))
    assert ids == ["a_000030", "b_000010", "c_000000"] and maps.shape == (3, 224, 224)
    assert set(np.unique(maps)) == {0.0, 1.0}
    assert maps[0].sum() == 2 * 112 * 112 - 56 * 56  # the overlap counts once
    assert maps[1].sum() == 112 * 224  # the box past the right edge is cut by the image
    ids, maps = sets.load_vggss_gt(str(path), ["c_000000"])
    assert ids == ["c_000000"] and maps[0].sum() == 44 * 112


def test_vggss_bad_files_name_the_file(tmp_path):
    cases = {"bad.json": "{not json", "dict.json": json.dumps({"file": "a"}),
             "nobox.json": json.dumps([{"file": "a"}]), "three.json": json.dumps([{"file": "a", "bbox": [[0, 0, 1]]}])}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError) as err:
            sets.read_vggss_boxes(str(tmp_path / name))
        assert name in str(err.value) and "\n" not in str(err.value) and "vggss" in str(err.value)
    (tmp_path / "ok.json").write_text(json.dumps([{"file": "a", "bbox": [[0, 0, 1, 1]]}]))
    with pytest.raises(ValueError, match="no boxes for 1 requested ids"):
        sets.load_vggss_gt(str(tmp_path / "ok.json"), ["a", "zz"])


def test_read_test_ids(tmp_path):
    (tmp_path / "flickr.csv").write_text("10000130166,202\n10007936344,0\n\n")
    (tmp_path / "vggss.csv").write_text("zpWuikVorYg_000032\ngEvCUcZ6w88_000030\n")
    assert sets.read_test_ids(str(tmp_path / "flickr.csv")) == ["10000130166", "10007936344"]
    assert sets.read_test_ids(str(tmp_path / "vggss.csv")) == ["zpWuikVorYg_000032", "gEvCUcZ6w88_000030"]


# --------------------------------------------------------------------------------------------
# Overlays
# --------------------------------------------------------------------------------------------

def test_overlay_pngs(tmp_path):
    images = np.zeros((2, 32, 48, 3), np.uint8)
    heat = np.zeros((2, 4, 6))
    heat[:, 0, 0] = 1.0  # the top-left corner is the map's max, the bottom-right its min
    paths = loc.save_overlays(images, heat, str(tmp_path / "vis"), names=["a", "b"],
                              boxes=[np.array([[10, 8, 30, 20]]), None])
    assert [os.path.basename(p) for p in paths] == ["a.png", "b.png"]
    first, second = (np.asarray(Image.open(p)) for p in paths)
    assert first.shape == (32, 48, 3) and first.dtype == np.uint8
    # Black image, alpha 0.5: jet(1) = (0.5, 0, 0) -> (64, 0, 0); jet(0) = (0, 0, 0.5) -> (0, 0, 64).
    np.testing.assert_array_equal(second[0, 0], [64, 0, 0])
    np.testing.assert_array_equal(second[31, 47], [0, 0, 64])
    # The box outline is white on the first image only; end-exclusive corners (10, 8) .. (29, 19).
    np.testing.assert_array_equal(first[8, 10], [255, 255, 255])
    np.testing.assert_array_equal(first[19, 29], [255, 255, 255])
    np.testing.assert_array_equal(first[14, 20], second[14, 20])  # the inside is untouched
    assert not np.array_equal(first[8, 10], second[8, 10])
    # Float images in [0, 1] are accepted; a constant heatmap colours everything jet(0).
    flat = loc.overlay(np.ones((8, 8, 3)), np.full((2, 2), 5.0))
    np.testing.assert_array_equal(flat[3, 3], [128, 128, 191])
    with pytest.raises(ValueError, match="2 images, 2 heatmaps, 1 names"):
        loc.save_overlays(images, heat, str(tmp_path), names=["a"])
