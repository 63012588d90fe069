"""benchmarks/vs_pytorch.py and its PyTorch reference of the official model (benchmarks/torch_reference.py)."""
import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import pytest
import torch

from conftest import REPO

sys.path.insert(0, REPO)
from avjax import configs, train  # noqa: E402
from avjax.tasks import crisscross  # noqa: E402
from benchmarks import torch_reference, vs_pytorch  # noqa: E402

# performance_anchors.md: the official model's parameter counts.
OFFICIAL_PARAMS = {"video_backbone": 15_379_136, "audio_backbone": 11_170_240,
                   "video_projector": 9_455_616, "audio_projector": 9_455_616,
                   "video_predictor": 2_100_736, "audio_predictor": 2_100_736, "total": 49_662_080}


def test_torch_reference_has_the_official_parameter_counts_and_names():
    with torch.device("meta"):  # full size without allocating it
        model = torch_reference.CrissCross()
    assert torch_reference.param_counts(model) == OFFICIAL_PARAMS
    state = model.state_dict()
    for key, shape in {"video_backbone.conv1.0.weight": (64, 3, 3, 7, 7),
                       "video_backbone.conv3x.0.res_conv.weight": (128, 64, 1, 1, 1),
                       "video_backbone.conv5x.1.tmp_conv2.weight": (512, 512, 3, 1, 1),
                       "audio_backbone.conv1.0.weight": (64, 1, 7, 7),
                       "audio_backbone.block4.0.downsample.1.running_var": (512,),
                       "video_projector.layer3.1.weight": (2048,),
                       "audio_predictor.layer2.weight": (2048, 512)}.items():
        assert tuple(state[key].shape) == shape, key


def test_avjax_full_size_variables_map_onto_the_torch_reference_one_to_one():
    """Every avjax parameter and BN statistic has its official key and layout in the reference."""
    config = configs.load_config(os.path.join(REPO, vs_pytorch.FULL_CONFIG))
    model = crisscross.build_model(config)

    def init(batch, key):
        views = crisscross.preprocess(batch, key, True, config=config)
        return nn.unbox(crisscross.init_variables(model, views, key, config=config))

    example = train.dummy_batch(crisscross.batch_spec(config, train=True), 2)
    abstract = jax.eval_shape(init, example, jax.random.key(0))
    assert vs_pytorch.avjax_param_counts(abstract["params"]) == OFFICIAL_PARAMS
    with torch.device("meta"):
        reference = vs_pytorch.build_torch_model(config)
    vs_pytorch.check_layout(reference, vs_pytorch.torch_shapes_from_avjax(abstract))


@pytest.mark.slow(70)
def test_benchmark_runs_end_to_end_and_both_sides_compute_the_same_step(tmp_path):
    """One tiny timed step (after the compile step) of PyTorch and avjax; the JSON has the table's
    numbers, and from the same weights and batch both give the same losses at both steps.

    The "+preprocess" row (skipped here to halve the compile time) is the trainer's own
    `Setup.jitted_step`, which tests/test_train.py runs; it goes through the same Row code."""
    out = tmp_path / "vs.json"
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks/vs_pytorch.py"), "--tiny", "--batch", "2",
         "--iters", "1", "--warmup", "0", "--threads", "1", "--device", "cpu", "--no-preprocess-row",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "clips/s" in proc.stdout and "vs pytorch" in proc.stdout
    report = json.loads(out.read_text())
    for key in ("benchmark", "config", "batch", "iters", "warmup", "threads", "precision", "conv_impls",
                "cpu", "jax", "torch", "platforms"):
        assert key in report, key
    assert report["batch"] == 2 and report["threads"] == 1
    (cpu,) = report["platforms"]
    assert cpu["platform"] == "cpu"
    assert cpu["param_counts"]["avjax"] == cpu["param_counts"]["pytorch"]
    assert cpu["shapes"]["video_view_pytorch"] == [3, 8, 32, 32]
    assert cpu["shapes"]["video_view_avjax"] == [8, 32, 32, 3]
    assert cpu["shapes"]["audio_view_pytorch"] == [1, 40, 101]
    rows = {r["row"]: r for r in cpu["results"]}
    assert set(rows) == {"pytorch", "avjax mixed"}
    for r in rows.values():
        for key in ("median_s", "min_s", "max_s", "cpu_s", "examples_per_s", "ratio_vs_pytorch",
                    "first_step_s", "losses", "times_s"):
            assert key in r, (r["row"], key)
        assert len(r["times_s"]) == 1 and len(r["losses"]) == 2 and r["examples_per_s"] > 0
    assert rows["pytorch"]["ratio_vs_pytorch"] == 1.0
    # Same weights, same views: the same loss, and after one LARC + Adam update the same loss again.
    assert rows["avjax mixed"]["loss_diff_vs_pytorch"] < 1e-4


def test_conv_impl_context_sets_the_video_backbone_formulation():
    """The task builds R2Plus1D itself; inside `video_conv_impl` it gets the chosen `conv_impl`."""
    config = configs.load_config(os.path.join(REPO, vs_pytorch.TINY_CONFIG))
    model = crisscross.build_model(config)
    v, a = jax.numpy.zeros((2, 8, 32, 32, 3)), jax.numpy.zeros((2, 40, 101))

    def conv3d_ops(impl):
        with vs_pytorch.video_conv_impl(impl):
            jaxpr = jax.make_jaxpr(lambda v, a: model.init(jax.random.key(0), v, v, a, a, train=False))(v, a)
        return str(jaxpr).count("lhs_spec=(0, 4, 1, 2, 3)")  # a 3-D conv on [B, T, H, W, C]

    assert conv3d_ops("3d") > 0
    assert conv3d_ops("mixed") == 0
