"""SSPL's predictive coding module: one test per equation block, against a NumPy reference.

The reference below is written from the PyTorch semantics of `pc_net.py` (Conv2d, MaxPool2d,
ConvTranspose2d as a scatter, Upsample(bilinear, align_corners=True), BatchNorm2d in training
mode, exact GELU), reading the Flax parameters through the weight layout PyTorch would have
(ConvTranspose2d weight [in, out, kh, kw]).
"""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from avjax.models.pcm import PCM, upsample2_align_corners

B, H, C, A, OUT = 4, 10, 8, 6, 5   # a 10x10 map: levels 10 -> 5 -> 2 (and back: 2 -> 5 -> 10)


# --------------------------------------------------------------------------------------------
# NumPy reference (float64)
# --------------------------------------------------------------------------------------------

def np_gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def np_conv(x, kernel, bias=None):
    """Conv2d, stride 1, padding k // 2: x [B, H, W, Cin], kernel [kh, kw, Cin, Cout]."""
    kh, kw = kernel.shape[:2]
    p = kh // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("bhwc,co->bhwo", xp[:, i:i + x.shape[1], j:j + x.shape[2]], kernel[i, j])
    return out if bias is None else out + bias


def np_maxpool2(x):
    h, w = x.shape[1] // 2, x.shape[2] // 2
    x = x[:, :2 * h, :2 * w]
    return x.reshape(x.shape[0], h, 2, w, 2, x.shape[-1]).max(axis=(2, 4))


def np_conv_transpose(x, torch_weight, stride, padding, bias=None):
    """PyTorch ConvTranspose2d as a scatter: every input pixel adds w[c, :, i, j] at (y s + i - p, x s + j - p)."""
    cin, cout, kh, kw = torch_weight.shape
    b, h, w, _ = x.shape
    full = np.zeros((b, (h - 1) * stride + kh, (w - 1) * stride + kw, cout))
    for y in range(h):
        for xx in range(w):
            full[:, y * stride:y * stride + kh, xx * stride:xx * stride + kw] += np.einsum(
                "bc,coij->bijo", x[:, y, xx], torch_weight)
    out = full[:, padding:full.shape[1] - padding, padding:full.shape[2] - padding]
    return out if bias is None else out + bias


def np_upsample2_align_corners(x):
    def axis_matrix(n):
        m = np.zeros((2 * n, n))
        for o in range(2 * n):
            src = o * (n - 1) / (2 * n - 1)
            i0 = min(int(math.floor(src)), n - 1)
            f = src - i0
            m[o, i0] += 1 - f
            m[o, min(i0 + 1, n - 1)] += f
        return m
    return np.einsum("oh,bhwc,pw->bopc", axis_matrix(x.shape[1]), x, axis_matrix(x.shape[2]))


def np_bn_train(x, p):
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    return (x - mean) / np.sqrt(var + 1e-5) * p["scale"] + p["bias"]


class Ref:
    """The PCM equations on a Flax parameter tree, in float64."""

    def __init__(self, params):
        self.p = jax.tree.map(lambda x: np.asarray(x, np.float64), params)
        relu = lambda x: np.maximum(x, 0.0)
        self.alpha = [relu(self.p[f"a0_{i}"]) for i in range(3)]
        self.beta = [relu(self.p[f"b0_{i}"]) for i in range(3)]

    def w_t(self, name):  # Flax ConvTranspose kernel (transpose_kernel=True) -> PyTorch [in, out, kh, kw]
        return self.p[name]["kernel"].transpose(3, 2, 0, 1)

    def pred2(self, x):
        return np_maxpool2(np_conv(x, self.p["PredProcess_2"]["kernel"]))

    def pred1(self, x):
        return np_maxpool2(np_conv(x, self.p["PredProcess_1"]["kernel"]))

    def audio_error(self, a, u0):
        pred0 = self.p["PredProcess_0"]
        a_hat = np_gelu(np_conv(u0, pred0["kernel"], pred0["bias"])).mean(axis=(1, 2))
        e = np.broadcast_to((a - a_hat)[:, None, None, :], u0.shape[:3] + (a.shape[-1],))
        return a_hat, np_conv_transpose(e, self.w_t("ErrorProcess_0"), 1, 0)

    def err1(self, x):
        return np_conv_transpose(x, self.w_t("ErrorProcess_1"), 2, 0)

    def err2(self, x):
        return np_conv_transpose(np_upsample2_align_corners(x), self.w_t("ErrorProcess_2"), 1, 1)

    def init(self, v, a):
        p = self.p
        p1 = np_gelu(np_bn_train(self.pred2(v), p["BNPred_1"]))
        p0 = np_gelu(np_bn_train(self.pred1(p1), p["BNPred_0"]))
        a_hat, e0 = self.audio_error(a, p0)
        u0 = np_gelu(np_bn_train(p0 + self.alpha[0] * e0, p["BNError_0"]))
        u1 = np_gelu(np_bn_train(p1 + self.alpha[1] * self.err1(u0 - p0), p["BNError_1"]))
        u2 = np_gelu(np_bn_train(v + self.alpha[2] * self.err2(u1 - p1), p["BNError_2"]))
        return dict(p1=p1, p0=p0, a_hat=a_hat, u0=u0, u1=u1, u2=u2)

    def cycle(self, t, v, a, s):
        p, al, be = self.p, self.alpha, self.beta
        u2 = np_gelu((1 - be[2]) * s["u2"] + be[2] * v)
        p1 = self.pred2(u2)
        u1 = np_gelu(np_bn_train((1 - be[1]) * s["u1"] + be[1] * p1, p["BNPred_step_%d" % (2 * t + 1)]))
        p0 = self.pred1(u1)
        u0 = np_gelu(np_bn_train((1 - be[0]) * s["u0"] + be[0] * p0, p["BNPred_step_%d" % (2 * t)]))
        a_hat, e0 = self.audio_error(a, u0)
        u0 = np_gelu(np_bn_train(u0 + al[0] * e0, p["BNError_step_%d" % (3 * t)]))
        u1 = np_gelu(np_bn_train(u1 + al[1] * self.err1(u0 - p0), p["BNError_step_%d" % (3 * t + 1)]))
        u2 = np_gelu(np_bn_train(u2 + al[2] * self.err2(u1 - p1), p["BNError_step_%d" % (3 * t + 2)]))
        return dict(p1=p1, p0=p0, a_hat=a_hat, u0=u0, u1=u1, u2=u2)

    def output(self, u2):
        return np_conv_transpose(u2, self.w_t("ErrorProcess_3"), 1, 0, self.p["ErrorProcess_3"]["bias"])


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------

def perturbed(params, key):
    """Random BN scales/biases and rates (the init has 1 / 0 / 1.0 / 0.5), so every term counts;
    one alpha channel negative, to check the ReLU on the rates."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    out = [x + 0.3 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
    params = jax.tree.unflatten(tree, out)
    params["a0_1"] = params["a0_1"].at[0].set(-0.7)
    return params


def run(cycles, train=True, seed=0):
    model = PCM(cycles=cycles, audio_dim=A, out_dim=OUT)
    kv, ka, kp, kq = jax.random.split(jax.random.key(seed), 4)
    v = jax.random.normal(kv, (B, H, H, C))
    a = jax.random.normal(ka, (B, A))
    a = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
    variables = nn.unbox(model.init(kp, v, a, train=False))
    params = perturbed(variables["params"], kq)
    out, state = model.apply({"params": params, "batch_stats": variables["batch_stats"]}, v, a, train=train,
                             mutable=["batch_stats", "intermediates"])
    inter = {k: np.asarray(x[0], np.float64) for k, x in state["intermediates"].items()}
    return model, params, variables, state, np.asarray(v, np.float64), np.asarray(a, np.float64), np.asarray(out), inter


TOL = dict(rtol=2e-4, atol=2e-4)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

def test_shapes_and_parameter_inventory():
    model, params, variables, state, v, a, out, inter = run(cycles=4)
    assert out.shape == (B, H, H, OUT)
    p = variables["params"]
    assert p["PredProcess_2"]["kernel"].shape == (3, 3, C, C) and "bias" not in p["PredProcess_2"]
    assert p["PredProcess_1"]["kernel"].shape == (3, 3, C, C) and "bias" not in p["PredProcess_1"]
    assert p["PredProcess_0"]["kernel"].shape == (1, 1, C, A) and p["PredProcess_0"]["bias"].shape == (A,)
    assert p["ErrorProcess_0"]["kernel"].shape == (1, 1, C, A) and "bias" not in p["ErrorProcess_0"]
    assert p["ErrorProcess_1"]["kernel"].shape == (3, 3, C, C) and "bias" not in p["ErrorProcess_1"]
    assert p["ErrorProcess_2"]["kernel"].shape == (3, 3, C, C) and "bias" not in p["ErrorProcess_2"]
    assert p["ErrorProcess_3"]["kernel"].shape == (1, 1, OUT, C) and p["ErrorProcess_3"]["bias"].shape == (OUT,)
    for i in range(3):  # per-channel rates with the official initial values
        np.testing.assert_array_equal(p[f"a0_{i}"], np.ones(C))
        np.testing.assert_array_equal(p[f"b0_{i}"], np.full(C, 0.5))
    assert inter["init/p1"].shape == (B, 5, 5, C) and inter["init/p0"].shape == (B, 2, 2, C)
    assert inter["init/a_hat"].shape == (B, A) and inter["cycle3/u2"].shape == (B, H, H, C)


@pytest.mark.parametrize("cycles", [0, 1, 4])
def test_cycle_count_and_per_step_batchnorm(cycles):
    model, params, variables, state, v, a, _, inter = run(cycles)
    names = set(variables["params"])
    assert {n for n in names if n.startswith("BNPred_step_")} == {f"BNPred_step_{k}" for k in range(2 * cycles)}
    assert {n for n in names if n.startswith("BNError_step_")} == {f"BNError_step_{k}" for k in range(3 * cycles)}
    assert {"BNPred_0", "BNPred_1", "BNError_0", "BNError_1", "BNError_2"} <= names
    assert sorted({k.split("/")[0] for k in inter if k.startswith("cycle")}) == [f"cycle{t}" for t in range(cycles)]
    if cycles >= 2:
        # Separate running statistics per cycle: the same level's BN of cycles 0 and 1 saw different inputs.
        stats = state["batch_stats"]
        for first, second in (("BNError_step_0", "BNError_step_3"), ("BNPred_step_1", "BNPred_step_3")):
            assert not np.allclose(stats[first]["mean"], stats[second]["mean"]), (first, second)
        # ... and separate parameters: scaling one cycle's BN changes that cycle only.
        v, a = jnp.asarray(v, jnp.float32), jnp.asarray(a, jnp.float32)
        base = {"params": params, "batch_stats": variables["batch_stats"]}
        bumped = jax.tree.map(lambda x: x, params)
        bumped["BNError_step_3"] = dict(bumped["BNError_step_3"], bias=bumped["BNError_step_3"]["bias"] + 1.0)
        _, s0 = model.apply(base, v, a, train=True, mutable=["batch_stats", "intermediates"])
        _, s1 = model.apply({"params": bumped, "batch_stats": variables["batch_stats"]}, v, a, train=True,
                            mutable=["batch_stats", "intermediates"])
        np.testing.assert_allclose(s0["intermediates"]["cycle0/u0"][0], s1["intermediates"]["cycle0/u0"][0])
        assert not np.allclose(s0["intermediates"]["cycle1/u0"][0], s1["intermediates"]["cycle1/u0"][0])


def test_initialisation_block_matches_numpy():
    _, params, _, _, v, a, _, inter = run(cycles=1)
    ref = Ref(params).init(v, a)
    for name in ("p1", "p0", "a_hat", "u0", "u1", "u2"):
        np.testing.assert_allclose(inter[f"init/{name}"], ref[name], **TOL, err_msg=name)


def test_one_cycle_matches_numpy():
    _, params, _, _, v, a, _, inter = run(cycles=2)
    r = Ref(params)
    # Cycle 1 from cycle 0's state as the module computed it: isolates one cycle's arithmetic.
    state = {k: inter[f"cycle0/{k}"] for k in ("u0", "u1", "u2")}
    ref = r.cycle(1, v, a, state)
    for name in ("p1", "p0", "a_hat", "u0", "u1", "u2"):
        np.testing.assert_allclose(inter[f"cycle1/{name}"], ref[name], **TOL, err_msg=name)
    # The beta mix of u2 has no BatchNorm (only GELU).
    np.testing.assert_allclose(inter["cycle1/u2_mix"], np_gelu((1 - r.beta[2]) * state["u2"] + r.beta[2] * v), **TOL)


def test_whole_module_and_output_layer_match_numpy():
    _, params, _, _, v, a, out, inter = run(cycles=2)
    r = Ref(params)
    s = r.init(v, a)
    for t in range(2):
        s = r.cycle(t, v, a, s)
    np.testing.assert_allclose(inter["cycle1/u2"], s["u2"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(out, r.output(inter["cycle1/u2"]), **TOL)


def test_rates_pass_through_relu():
    # A negative alpha channel contributes nothing: channel 0 of alpha_1 was set to -0.7.
    _, params, _, _, v, a, _, inter = run(cycles=0)
    r = Ref(params)
    assert r.alpha[1][0] == 0.0 and params["a0_1"][0] < 0
    pre = inter["init/p1"] + r.alpha[1] * r.err1(inter["init/u0"] - inter["init/p0"])
    np.testing.assert_allclose(pre[..., 0], inter["init/p1"][..., 0])


def test_upsample_align_corners_and_conv_transpose_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 7, 7, 3)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), scale_factor=2,
                                          mode="bilinear", align_corners=True).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(np.asarray(upsample2_align_corners(jnp.asarray(x))), ref, rtol=1e-5, atol=1e-5)
    # The PyTorch layers the PCM's transposed convolutions stand for, with the same weights.
    for k, s, p, pad in ((3, 2, 0, "VALID"), (3, 1, 1, "SAME"), (1, 1, 0, "SAME")):
        layer = nn.ConvTranspose(4, (k, k), strides=(s, s), padding=pad, use_bias=False, transpose_kernel=True)
        xin = jnp.asarray(x[:, :3, :3])
        kernel = layer.init(jax.random.key(0), xin)["params"]["kernel"]
        t = torch.nn.ConvTranspose2d(3, 4, k, stride=s, padding=p, bias=False)
        t.weight.data = torch.from_numpy(np.asarray(kernel).transpose(3, 2, 0, 1).copy())
        want = t(torch.from_numpy(np.array(xin)).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).detach().numpy()
        got = np.asarray(layer.apply({"params": {"kernel": kernel}}, xin))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"k{k} s{s} p{p}")


def test_bad_map_size_is_one_clear_error():
    with pytest.raises(ValueError, match="2 \\(mod 4\\)"):
        PCM(cycles=1, audio_dim=A, out_dim=OUT).init(jax.random.key(0), jnp.zeros((2, 12, 12, C)),
                                                     jnp.zeros((2, A)), train=False)
