"""Models: parameter counts and shapes at full size (jax.eval_shape, nothing allocated), the conv
formulations against 3-D `lax` convs, BatchNorm modes, tiny forward+backward under jit, and (when
torch is installed) the official PyTorch structure with the same weights."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from avjax.models import count_params, max_pool
from avjax.models.heads import Predictor, Projector
from avjax.models.r2plus1d import CONV_IMPLS, DEFAULT_CONV_IMPL, R2Plus1D, conv3d
from avjax.models.resnet import ResNet18Audio

TINY = dict(widths=(8, 16, 32, 64), blocks=(2, 2, 2, 2))
KEY = jax.random.PRNGKey(0)


def fast_jit(fun, *args):
    """`fun` compiled for `args` with XLA's backend optimisation off: these tiny graphs then
    compile in a fraction of the time (LLVM dominates XLA CPU compile time), and run as well."""
    return jax.jit(fun).lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})


def _shapes(model, *args, **kwargs):
    """Boxed variable shapes from `model.init` under eval_shape (nothing allocated)."""
    return jax.eval_shape(lambda: model.init(KEY, *args, **kwargs))


def assert_close(actual, expected, tol):
    """max |actual - expected| <= tol * max(1, max |expected|)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    err = float(np.abs(actual - expected).max())
    assert err <= tol * scale, f"max abs error {err:.3g} > {tol:g} * {scale:.3g}"


# ----------------------------------------------------------------------------- full size, shapes

def test_param_counts_full_size():
    video = _shapes(R2Plus1D(), jnp.zeros((1, 8, 112, 112, 3)), train=False)
    audio = _shapes(ResNet18Audio(), jnp.zeros((1, 80, 201)), train=False)
    proj = _shapes(Projector(), jnp.zeros((2, 512)), train=False)
    pred = _shapes(Predictor(), jnp.zeros((2, 2048)), train=False)
    assert count_params(video["params"]) == 15_379_136
    assert count_params(audio["params"]) == 11_170_240
    assert count_params(proj["params"]) == 9_455_616
    assert count_params(pred["params"]) == 2_100_736
    total = sum(count_params(v["params"]) for v in (video, audio, proj, pred, proj, pred))
    assert total == 49_662_080
    # BN running statistics are separate from the params, and every param is float32.
    assert set(video) == {"params", "batch_stats"}
    assert {x.dtype for x in jax.tree_util.tree_leaves(nn.unbox(video["params"]))} == {np.dtype("float32")}
    # One kernel per conv, PyTorch-importable: [kt, kh, kw, Cin, Cout].
    p = nn.unbox(video["params"])
    assert p["stem_conv"]["kernel"].shape == (3, 7, 7, 3, 64)
    assert p["conv3x_0"]["tmp_conv1"]["kernel"].shape == (3, 1, 1, 128, 128)
    assert p["conv3x_0"]["res_conv"]["kernel"].shape == (1, 1, 1, 64, 128)
    assert "res_conv" not in p["conv2x_0"] and "res_conv" not in p["conv3x_1"]


def test_projector_two_layers_drops_the_middle_layer():
    v = _shapes(Projector(num_layers=2), jnp.zeros((2, 512)), train=False)
    assert set(v["params"]) == {"layer1_linear", "layer1_bn", "layer3_linear", "layer3_bn"}
    assert count_params(v["params"]) == 9_455_616 - (2048 * 2048 + 2048 + 2 * 2048)


def test_output_shapes_full_size():
    video, model = jnp.zeros((1, 8, 112, 112, 3)), R2Plus1D()
    v = _shapes(model, video, train=False)
    out = lambda pool: jax.eval_shape(lambda v: model.apply(v, video, train=False, pool=pool), v)
    assert out(None).shape == (1, 1, 4, 4, 512)
    assert out("avg").shape == out("max").shape == (1, 512)
    assert out("avg").dtype == jnp.float32

    spec, audio = jnp.zeros((1, 80, 201)), ResNet18Audio()
    va = _shapes(audio, spec, train=False)
    aout = lambda x, pool: jax.eval_shape(lambda v: audio.apply(v, x, train=False, pool=pool), va)
    assert aout(spec, None).shape == (1, 3, 7, 512)
    assert aout(spec[..., None], "max").shape == aout(spec, "avg").shape == (1, 512)


def test_logical_partitioning():
    specs = nn.get_partition_spec(_shapes(R2Plus1D(**TINY, stem_width=8), jnp.zeros((1, 4, 16, 16, 3)),
                                          train=False))["params"]
    assert specs["stem_conv"]["kernel"] == jax.sharding.PartitionSpec(None, None, None, "in", "out")
    assert specs["conv2x_0"]["spt_bn1"]["scale"] == jax.sharding.PartitionSpec()
    specs = nn.get_partition_spec(_shapes(ResNet18Audio(**TINY), jnp.zeros((1, 16, 16)),
                                          train=False))["params"]
    assert specs["block2_0"]["downsample_conv"]["kernel"] == jax.sharding.PartitionSpec(None, None, "in", "out")
    specs = nn.get_partition_spec(_shapes(Projector(32, 16), jnp.zeros((2, 8)), train=False))["params"]
    assert specs["layer1_linear"]["kernel"] == jax.sharding.PartitionSpec("in", "out")
    assert specs["layer1_linear"]["bias"] == jax.sharding.PartitionSpec()


def test_bfloat16_compute_keeps_float32_params():
    model, video = R2Plus1D(**TINY, stem_width=8, dtype=jnp.bfloat16), jnp.zeros((1, 4, 16, 16, 3))
    v = _shapes(model, video, train=False)
    assert {x.dtype for x in jax.tree_util.tree_leaves(nn.unbox(v))} == {np.dtype("float32")}
    out = lambda pool: jax.eval_shape(lambda v: model.apply(v, video, train=False, pool=pool), v)
    assert out(None).dtype == jnp.bfloat16
    assert out("avg").dtype == jnp.float32


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="conv_impl"):
        R2Plus1D(**TINY, conv_impl="2d").init(KEY, jnp.zeros((1, 2, 8, 8, 3)), train=False)
    with pytest.raises(ValueError, match="pool"):
        jax.eval_shape(lambda: ResNet18Audio(**TINY).init(KEY, jnp.zeros((1, 8, 8)), train=False,
                                                          pool="mean"))
    with pytest.raises(ValueError, match="spec"):
        jax.eval_shape(lambda: ResNet18Audio(**TINY).init(KEY, jnp.zeros((1, 8, 8, 2)), train=False))


# ------------------------------------------------------------------- conv formulations vs 3-D conv

CONV_CASES = {  # kernel (kt, kh, kw), strides, padding: every conv R(2+1)D uses, at strides 1 and 2
    "spatial_s1": ((1, 3, 3), (1, 1, 1), ((0, 0), (1, 1), (1, 1))),
    "spatial_s2": ((1, 3, 3), (1, 2, 2), ((0, 0), (1, 1), (1, 1))),
    "temporal_s1": ((3, 1, 1), (1, 1, 1), ((1, 1), (0, 0), (0, 0))),
    "temporal_s2": ((3, 1, 1), (2, 1, 1), ((1, 1), (0, 0), (0, 0))),
    "shortcut_s2": ((1, 1, 1), (2, 2, 2), ((0, 0), (0, 0), (0, 0))),
    "stem": ((3, 7, 7), (1, 2, 2), ((1, 1), (3, 3), (3, 3))),
    "full_s2": ((3, 3, 3), (2, 2, 2), ((1, 1), (1, 1), (1, 1))),
}


@pytest.mark.parametrize("impl", [i for i in CONV_IMPLS if i != "3d"])
def test_conv_impl_matches_3d_conv_forward_and_gradient(impl):
    kx, kw, kg = jax.random.split(jax.random.PRNGKey(1), 3)
    x = jax.random.normal(kx, (2, 5, 9, 9, 3))

    def both(x):  # every case in one compiled function: (ours, reference) outputs and input/kernel grads
        out = {}
        for case, (ksize, strides, padding) in CONV_CASES.items():
            fan_in = int(np.prod(ksize)) * 3
            w = jax.random.uniform(kw, (*ksize, 3, 4), minval=-1, maxval=1) / np.sqrt(fan_in)
            for name, impl_ in (("ours", impl), ("ref", "3d")):
                y, vjp = jax.vjp(lambda x, w: conv3d(x, w, strides, padding, impl_), x, w)
                out[case, name] = (y, *vjp(jax.random.normal(kg, y.shape)))
        return out

    out = fast_jit(both, x)(x)
    ref = lambda x, w: lax.conv_general_dilated(x, w, (2, 2, 2), ((1, 1),) * 3,
                                                dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
    w = jax.random.normal(kw, (3, 3, 3, 3, 4))  # the reference is lax's own 3-D conv
    assert_close(conv3d(x, w, (2, 2, 2), ((1, 1),) * 3, "3d"), ref(x, w), 0)
    for case in CONV_CASES:
        for got, want in zip(out[case, "ours"], out[case, "ref"]):  # y, dL/dx, dL/dkernel
            assert_close(got, want, 1e-5)


def test_max_pool_matches_reduce_window():
    x = jax.random.normal(KEY, (2, 3, 9, 10, 4))
    g = jax.random.normal(KEY, (2, 3, 5, 5, 4))
    args = ((1, 3, 3), (1, 2, 2), ((0, 0), (1, 1), (1, 1)))

    def both(x, g):
        out = {}
        for name, pool in (("ours", lambda x: max_pool(x, *args)),
                           ("ref", lambda x: nn.max_pool(x, args[0], strides=args[1], padding=args[2]))):
            y, vjp = jax.vjp(pool, x)
            out[name] = (y, vjp(g)[0])
        return out

    out = fast_jit(both, x, g)(x, g)
    np.testing.assert_array_equal(out["ours"][0], out["ref"][0])
    np.testing.assert_allclose(out["ours"][1], out["ref"][1], atol=1e-6)  # no ties in random input


# --------------------------------------------------------------------- tiny models, BN, jit fwd+bwd

def _init(model, x):
    return fast_jit(lambda x: nn.unbox(model.init(KEY, x, train=False)), x)(x)


# Two stages are enough where the numbers are compared: with all four, a tiny input leaves
# conv5x a 1x1x1 map whose BatchNorm over 2 values turns float rounding into O(1) differences.
SHORT = dict(widths=(8, 16), blocks=(1, 2), stem_width=8)


def test_batchnorm_train_updates_stats_and_eval_uses_them():
    model = R2Plus1D(**SHORT)
    x = jax.random.normal(KEY, (3, 4, 16, 16, 3)) + 0.5
    variables = _init(model, x)
    train = fast_jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]), variables, x)
    evaluate = fast_jit(lambda v, x: model.apply(v, x, train=False, mutable=["batch_stats"]), variables, x)
    y_train, state = train(variables, x)
    old, new = variables["batch_stats"]["stem_bn"], state["batch_stats"]["stem_bn"]
    assert not np.allclose(old["mean"], new["mean"]) and not np.allclose(old["var"], new["var"])
    variables = {"params": variables["params"], **state}
    evaluate = fast_jit(lambda v, x: model.apply(v, x, train=False, mutable=["batch_stats"]), variables, x)
    # Eval mode normalises with the running statistics: a sample's output does not depend on the
    # rest of the batch (and differs from the train-mode output, which uses batch statistics),
    # and the statistics stay as they are.
    y_eval, unchanged = evaluate(variables, x)
    y_other, _ = evaluate(variables, x.at[1:].set(jax.random.normal(KEY, x[1:].shape)))
    assert_close(y_other[0], y_eval[0], 1e-5)
    assert not np.allclose(y_eval, y_train, atol=1e-3)
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, unchanged["batch_stats"],
                                                         variables["batch_stats"]))


def _fwd_bwd(model, x, **kwargs):
    """Train-mode forward + gradient of every param under jit; checks and returns (y, grads)."""
    variables = _init(model, x)

    def step(params, batch_stats, x):
        def loss(params):
            y, new = model.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                                 mutable=["batch_stats"], **kwargs)
            weights = jnp.linspace(-1.0, 1.0, y.size).reshape(y.shape)
            return jnp.sum(y * weights), (y, new)
        return jax.value_and_grad(loss, has_aux=True)(params)

    args = (variables["params"], variables["batch_stats"], x)
    (loss, (y, new)), grads = fast_jit(step, *args)(*args)
    assert np.isfinite(float(loss))
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(variables["params"])
    assert all(np.isfinite(g).all() for g in jax.tree_util.tree_leaves(grads))
    assert jax.tree_util.tree_structure(new["batch_stats"]) == jax.tree_util.tree_structure(
        variables["batch_stats"])
    return y, grads


def test_tiny_video_fwd_bwd_jit():
    y, grads = _fwd_bwd(R2Plus1D(**TINY, stem_width=8), jax.random.normal(KEY, (2, 4, 16, 16, 3)))
    assert y.shape == (2, 64)
    assert float(jnp.abs(grads["stem_conv"]["kernel"]).max()) > 0


def test_conv_impls_equal_3d_convs_in_the_network():
    x = jax.random.normal(KEY, (2, 4, 16, 16, 3))
    y3, grads3 = _fwd_bwd(R2Plus1D(**SHORT, conv_impl="3d"), x)
    for impl in sorted({"folded", DEFAULT_CONV_IMPL}):
        y, grads = _fwd_bwd(R2Plus1D(**SHORT, conv_impl=impl), x)
        assert_close(y, y3, 1e-4)
        for g, g3 in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(grads3)):
            assert_close(g, g3, 1e-4)


def test_tiny_audio_and_heads_fwd_bwd_jit():
    y, grads = _fwd_bwd(ResNet18Audio(**TINY), jax.random.normal(KEY, (2, 32, 32)), pool="max")
    assert y.shape == (2, 64)
    assert float(jnp.abs(grads["stem_conv"]["kernel"]).max()) > 0
    for head, d_in in ((Projector(32, 16), 8), (Projector(32, 16, num_layers=2), 8),
                       (Predictor(8, 16), 16)):
        y, _ = _fwd_bwd(head, jax.random.normal(KEY, (4, d_in)))
        assert y.shape == (4, 16)


# -------------------------------------------------------- the official PyTorch structure, same weights

def _torch_to_flax(state_dict, module_name):
    """Official PyTorch state_dict -> Flax {"params", "batch_stats"} by the naming rule documented
    in the model modules. `module_name(torch_module_path_parts) -> flax path tuple`."""
    params, stats = {}, {}

    def put(tree, path, value):
        for p in path[:-1]:
            tree = tree.setdefault(p, {})
        tree[path[-1]] = jnp.asarray(value)

    for key, value in state_dict.items():
        *mods, leaf = key.split(".")
        if leaf == "num_batches_tracked":
            continue
        path = module_name(mods)
        value = value.detach().numpy()
        if leaf == "weight" and value.ndim > 1:  # conv / linear: [Cout, Cin, *k] -> [*k, Cin, Cout]
            put(params, path + ("kernel",), value.transpose(*range(2, value.ndim), 1, 0))
        elif leaf == "weight":
            put(params, path + ("scale",), value)
        elif leaf == "bias":
            put(params, path + ("bias",), value)
        elif leaf == "running_mean":
            put(stats, path + ("mean",), value)
        elif leaf == "running_var":
            put(stats, path + ("var",), value)
        else:
            raise KeyError(key)
    return {"params": params, "batch_stats": stats}


def _video_name(mods):  # conv1.0 -> stem_conv, conv1.1 -> stem_bn, conv2x.0.spt_conv1 -> conv2x_0/spt_conv1
    if mods[0] == "conv1":
        return ("stem_conv",) if mods[1] == "0" else ("stem_bn",)
    return (f"{mods[0]}_{mods[1]}", *mods[2:])


def _audio_name(mods):  # block1.0.downsample.0 -> block1_0/downsample_conv
    if mods[0] == "conv1":
        return ("stem_conv",) if mods[1] == "0" else ("stem_bn",)
    rest = mods[2:]
    if rest[0] == "downsample":
        rest = ["downsample_conv" if rest[1] == "0" else "downsample_bn"]
    return (f"{mods[0]}_{mods[1]}", *rest)


def _head_name(mods):  # layer1.0 -> layer1_linear, layer1.1 -> layer1_bn, layer2 -> layer2
    if len(mods) == 1:
        return (mods[0],)
    return (f"{mods[0]}_{'linear' if mods[1] == '0' else 'bn'}",)


def _torch_models(torch, widths):
    """The official modules (CrissCross backbones/network_blocks.py, backbones/audio.py with
    torchvision's BasicBlock, crisscross.py heads), with the widths as parameters."""
    tnn = torch.nn

    class BasicR2P1DBlock(tnn.Module):
        def __init__(self, cin, cout, stride=(1, 1, 1)):
            super().__init__()
            self.spt_conv1 = tnn.Conv3d(cin, cout, (1, 3, 3), (1, stride[1], stride[2]), (0, 1, 1), bias=False)
            self.spt_bn1 = tnn.BatchNorm3d(cout)
            self.tmp_conv1 = tnn.Conv3d(cout, cout, (3, 1, 1), (stride[0], 1, 1), (1, 0, 0), bias=False)
            self.tmp_bn1 = tnn.BatchNorm3d(cout)
            self.spt_conv2 = tnn.Conv3d(cout, cout, (1, 3, 3), 1, (0, 1, 1), bias=False)
            self.spt_bn2 = tnn.BatchNorm3d(cout)
            self.tmp_conv2 = tnn.Conv3d(cout, cout, (3, 1, 1), 1, (1, 0, 0), bias=False)
            self.out_bn = tnn.BatchNorm3d(cout)
            self.res = cin != cout or any(s != 1 for s in stride)
            if self.res:
                self.res_conv = tnn.Conv3d(cin, cout, 1, stride, 0, bias=False)

        def forward(self, x):
            relu = torch.relu
            y = relu(self.tmp_bn1(self.tmp_conv1(relu(self.spt_bn1(self.spt_conv1(x))))))
            y = self.tmp_conv2(relu(self.spt_bn2(self.spt_conv2(y))))
            return relu(self.out_bn(y + (self.res_conv(x) if self.res else x)))

    class Video(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Sequential(tnn.Conv3d(3, widths[0], (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                                        tnn.BatchNorm3d(widths[0]), tnn.ReLU(),
                                        tnn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
            cin = widths[0]
            for k, w in enumerate(widths):
                s = (1, 1, 1) if k == 0 else (2, 2, 2)
                setattr(self, f"conv{k + 2}x", tnn.Sequential(BasicR2P1DBlock(cin, w, s), BasicR2P1DBlock(w, w)))
                cin = w

        def forward(self, x):
            x = self.conv1(x)
            for k in range(len(widths)):
                x = getattr(self, f"conv{k + 2}x")(x)
            return x

    from benchmarks.torch_reference import BasicBlock  # torchvision.models.resnet.BasicBlock

    class Audio(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Sequential(tnn.Conv2d(1, widths[0], 7, 2, 3, bias=False), tnn.BatchNorm2d(widths[0]),
                                        tnn.ReLU(), tnn.MaxPool2d(3, 2, 1))
            cin = widths[0]
            for k, w in enumerate(widths):
                s = 1 if k == 0 else 2
                setattr(self, f"block{k + 1}", tnn.Sequential(BasicBlock(cin, w, s), BasicBlock(w, w)))
                cin = w

        def forward(self, x):
            x = self.conv1(x)
            for k in range(len(widths)):
                x = getattr(self, f"block{k + 1}")(x)
            return x

    def projection_mlp(d_in, hidden, out):
        m = tnn.Module()
        m.layer1 = tnn.Sequential(tnn.Linear(d_in, hidden), tnn.BatchNorm1d(hidden), tnn.ReLU())
        m.layer2 = tnn.Sequential(tnn.Linear(hidden, hidden), tnn.BatchNorm1d(hidden), tnn.ReLU())
        m.layer3 = tnn.Sequential(tnn.Linear(hidden, out), tnn.BatchNorm1d(out))
        m.forward = lambda x: m.layer3(m.layer2(m.layer1(x)))
        return m

    def prediction_mlp(d_in, hidden, out):
        m = tnn.Module()
        m.layer1 = tnn.Sequential(tnn.Linear(d_in, hidden), tnn.BatchNorm1d(hidden), tnn.ReLU())
        m.layer2 = tnn.Linear(hidden, out)
        m.forward = lambda x: m.layer2(m.layer1(x))
        return m

    return Video(), Audio(), projection_mlp, prediction_mlp


def _randomise_bn(torch, module):
    """Non-trivial BN affine params and running statistics, so that the import is really tested."""
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            with torch.no_grad():
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=g))
                m.bias.copy_(0.2 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))


def _compare(torch, tmodel, fmodel, variables, x_torch, x_flax, to_flax_layout, rename, pool=None):
    """Eval mode and train mode (outputs and updated running means) agree to 1e-4."""
    kwargs = {"pool": pool} if pool != "head" else {}
    tmodel.eval()
    with torch.no_grad():
        want = to_flax_layout(tmodel(x_torch).numpy())
    got = fast_jit(lambda v, x: fmodel.apply(v, x, train=False, **kwargs), variables, x_flax)(
        variables, x_flax)
    assert_close(got, want, 1e-4)
    tmodel.train()
    with torch.no_grad():
        want = to_flax_layout(tmodel(x_torch).numpy())
    train = lambda v, x: fmodel.apply(v, x, train=True, mutable=["batch_stats"], **kwargs)
    got, state = fast_jit(train, variables, x_flax)(variables, x_flax)
    assert_close(got, want, 1e-4)
    updated = _torch_to_flax(tmodel.state_dict(), rename)["batch_stats"]
    for k, v in jax.tree_util.tree_leaves_with_path(updated):
        if k[-1].key == "mean":  # PyTorch's running var uses the unbiased batch variance, Flax's not
            sub = state["batch_stats"]
            for p in k:
                sub = sub[p.key]
            assert_close(sub, v, 1e-4)


def test_matches_official_pytorch_structure():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    widths = (8, 16, 16, 32)
    tvideo, taudio, projection_mlp, prediction_mlp = _torch_models(torch, widths)

    _randomise_bn(torch, tvideo)
    video = jax.random.normal(KEY, (2, 4, 32, 32, 3))
    fvideo = R2Plus1D(widths=widths, stem_width=widths[0])
    variables = _torch_to_flax(tvideo.state_dict(), _video_name)
    ref_shapes = jax.tree_util.tree_map(jnp.shape, nn.unbox(_shapes(fvideo, video, train=False)))
    assert jax.tree_util.tree_map(jnp.shape, variables) == ref_shapes
    _compare(torch, tvideo, fvideo, variables,
             torch.from_numpy(np.asarray(video).transpose(0, 4, 1, 2, 3).copy()), video,
             lambda y: y.transpose(0, 2, 3, 4, 1), _video_name)

    _randomise_bn(torch, taudio)
    spec = jax.random.normal(KEY, (2, 40, 48))
    faudio = ResNet18Audio(widths=widths)
    variables = _torch_to_flax(taudio.state_dict(), _audio_name)
    ref_shapes = jax.tree_util.tree_map(jnp.shape, nn.unbox(_shapes(faudio, spec, train=False)))
    assert jax.tree_util.tree_map(jnp.shape, variables) == ref_shapes
    _compare(torch, taudio, faudio, variables, torch.from_numpy(np.asarray(spec)[:, None].copy()),
             spec, lambda y: y.transpose(0, 2, 3, 1), _audio_name)

    feats = jax.random.normal(KEY, (6, 32))
    for thead, fhead in ((projection_mlp(32, 24, 24), Projector(24, 24)),
                         (prediction_mlp(32, 12, 24), Predictor(12, 24))):
        _randomise_bn(torch, thead)
        variables = _torch_to_flax(thead.state_dict(), _head_name)
        _compare(torch, thead, fhead, variables, torch.from_numpy(np.asarray(feats).copy()), feats,
                 lambda y: y, _head_name, pool="head")
