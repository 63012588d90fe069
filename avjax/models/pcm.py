"""Predictive coding module (PCM) of SSPL (Song et al., CVPR 2022): audio-guided refinement of a
visual feature map.

Official: `sspl_w_pcm/models/pc_net.py::PCNet` (cycs_in=4, dim_audio=128, n_fm_out=512);
methods/localization_sspl_sacl.md, section 1.5. Three levels: l2 = the visual map V
[B, 14, 14, C] (C = 512), l1 = [B, 7, 7, C], l0 = [B, 3, 3, C]; `a` is the L2-normalised audio
embedding [B, A] (A = 128).

Layers (Flax names = the PyTorch module names, so official weights import 1:1):

    PredProcess_2   Conv3x3 (C -> C, pad 1, no bias) + MaxPool2      l2 -> l1   ("Pred2")
    PredProcess_1   Conv3x3 (C -> C, pad 1, no bias) + MaxPool2      l1 -> l0 (7 -> 3, floor)
    PredProcess_0   Conv1x1 (C -> A, bias)                           l0 -> audio prediction
    ErrorProcess_0  ConvT1x1 (A -> C, no bias)                       audio error -> l0  ("Err0")
    ErrorProcess_1  ConvT3x3 (C -> C, stride 2, pad 0, no bias)      l0 -> l1 (3 -> 7)
    ErrorProcess_2  bilinear x2 (align_corners=True) + ConvT3x3 (stride 1, pad 1, no bias)  l1 -> l2
    ErrorProcess_3  ConvT1x1 (C -> out, bias)                        the output F ("Out")
    a0_{0,1,2}      alpha_l, per channel [C], init 1.0, used as ReLU(alpha_l)
    b0_{0,1,2}      beta_l, per channel [C], init 0.5, used as ReLU(beta_l)
    BNPred_{0,1}, BNError_{0,1,2}                 BatchNorm of the initialisation
    BNPred_step_{2t+i}, BNError_step_{3t+i}       BatchNorm of cycle t (separate parameters and
                                                   running statistics per cycle and level)

Initialisation (GELU is the exact erf form; bcast = the audio error broadcast over l0's grid):

    p1 = GELU(BNPred_1(Pred2(V)));  p0 = GELU(BNPred_0(Pred1(p1)))
    a_hat = GAP(GELU(Pred0(p0)))
    u0 = GELU(BNError_0(p0 + ReLU(a0_0) Err0(bcast(a - a_hat))))
    u1 = GELU(BNError_1(p1 + ReLU(a0_1) Err1(u0 - p0)))
    u2 = GELU(BNError_2(V  + ReLU(a0_2) Err2(u1 - p1)))

Cycle t = 0 .. cycles-1 (Pred without BN or GELU inside the loop):

    u2 = GELU((1 - ReLU(b0_2)) u2 + ReLU(b0_2) V)
    p1 = Pred2(u2);  u1 = GELU(BNPred_step_{2t+1}((1 - ReLU(b0_1)) u1 + ReLU(b0_1) p1))
    p0 = Pred1(u1);  u0 = GELU(BNPred_step_{2t}  ((1 - ReLU(b0_0)) u0 + ReLU(b0_0) p0))
    a_hat = GAP(GELU(Pred0(u0)))
    u0 = GELU(BNError_step_{3t}  (u0 + ReLU(a0_0) Err0(bcast(a - a_hat))))
    u1 = GELU(BNError_step_{3t+1}(u1 + ReLU(a0_1) Err1(u0 - p0)))      (the new u0)
    u2 = GELU(BNError_step_{3t+2}(u2 + ReLU(a0_2) Err2(u1 - p1)))

Output: F = Out(u2): [B, 14, 14, out]. Any map size h with h = 2 (mod 4) works (14, 10, 6):
MaxPool2 gives h/2 (odd) then (h/2 - 1)/2, which the stride-2 ConvT maps back to h/2.

`sow`s every intermediate into the "intermediates" collection (apply with
mutable=["intermediates"] to read them): init/{p1, p0, a_hat, u0, u1, u2} and
cycle{t}/{u2_mix, p1, u1_mix, p0, u0_mix, a_hat, u0, u1, u2}.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from avjax.models import batch_norm, max_pool, torch_default_bias_init, torch_default_kernel_init


def gelu(x):
    """PyTorch F.gelu: the exact erf form."""
    return nn.gelu(x, approximate=False)


def upsample2_align_corners(x: jax.Array) -> jax.Array:
    """nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True): [B, h, w, C] -> [B, 2h, 2w, C].

    Separable: src = o (n - 1) / (2n - 1) along each axis, two-tap linear weights (jax.image.resize
    uses half-pixel centres, which is align_corners=False)."""
    from avjax.evaluators.localization import interpolation_matrix  # one implementation of the weights
    h, w = x.shape[1:3]
    rows = jnp.asarray(interpolation_matrix(h, 2 * h, "bilinear_align_corners"), x.dtype)
    cols = jnp.asarray(interpolation_matrix(w, 2 * w, "bilinear_align_corners"), x.dtype)
    return jnp.einsum("oh,bhwc,pw->bopc", rows, x, cols, precision=jax.lax.Precision.HIGHEST)


def _conv(features: int, kernel: int, bias: bool, dtype, name: str, fan_in: int) -> nn.Conv:
    pad = kernel // 2
    return nn.Conv(features, (kernel, kernel), padding=((pad, pad), (pad, pad)), use_bias=bias, dtype=dtype,
                   param_dtype=jnp.float32,
                   kernel_init=nn.with_logical_partitioning(torch_default_kernel_init(), (None, None, "in", "out")),
                   bias_init=torch_default_bias_init(fan_in * kernel * kernel), name=name)


def _conv_t(features: int, kernel: int, stride: int, padding: str, bias: bool, dtype, name: str,
            fan_in: int) -> nn.ConvTranspose:
    """PyTorch ConvTranspose2d: (k, s2, p0) is 'VALID', (k3, s1, p1) and 1x1 are 'SAME'.
    transpose_kernel=True: the gradient-of-conv form PyTorch computes (flipped, in/out swapped)."""
    return nn.ConvTranspose(features, (kernel, kernel), strides=(stride, stride), padding=padding,
                            use_bias=bias, transpose_kernel=True, dtype=dtype, param_dtype=jnp.float32,
                            kernel_init=nn.with_logical_partitioning(torch_default_kernel_init(),
                                                                     (None, None, "out", "in")),
                            bias_init=torch_default_bias_init(fan_in * kernel * kernel), name=name)


class PCM(nn.Module):
    """SSPL's predictive coding module. __call__(v [B, h, w, C], a [B, A], train) -> F [B, h, w, out_dim]."""
    cycles: int = 4
    audio_dim: int = 128
    out_dim: int = 512
    alpha_init: float = 1.0
    beta_init: float = 0.5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, v, a, train: bool):
        b, h, w, c = v.shape
        if h % 4 != 2 or w % 4 != 2:
            raise ValueError(f"PCM: the visual map is {h}x{w}; it needs sides = 2 (mod 4), e.g. 14x14 "
                             "(VGG16 conv5_3 of a 224 input): MaxPool2 twice then a stride-2 ConvT must "
                             "return to the same sizes")
        if a.shape != (b, self.audio_dim):
            raise ValueError(f"PCM: audio embedding of shape {a.shape}; expected [B={b}, {self.audio_dim}]")
        dt = self.dtype
        v = v.astype(dt)
        a = a.astype(jnp.float32)
        pred2 = _conv(c, 3, False, dt, "PredProcess_2", c)
        pred1 = _conv(c, 3, False, dt, "PredProcess_1", c)
        pred0 = _conv(self.audio_dim, 1, True, dt, "PredProcess_0", c)
        err0 = _conv_t(c, 1, 1, "SAME", False, dt, "ErrorProcess_0", self.audio_dim)
        err1 = _conv_t(c, 3, 2, "VALID", False, dt, "ErrorProcess_1", c)
        err2 = _conv_t(c, 3, 1, "SAME", False, dt, "ErrorProcess_2", c)
        out = _conv_t(self.out_dim, 1, 1, "SAME", True, dt, "ErrorProcess_3", c)
        relu_param = lambda name, init: nn.relu(self.param(name, nn.initializers.constant(init), (c,), jnp.float32))
        alpha = [relu_param(f"a0_{i}", self.alpha_init) for i in range(3)]
        beta = [relu_param(f"b0_{i}", self.beta_init) for i in range(3)]
        bn = lambda name: batch_norm(train, dt, name)

        def down(x):  # MaxPool2d(2, 2), floor
            return max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0)))

        def audio_error(u0):
            a_hat = jnp.mean(gelu(pred0(u0)).astype(jnp.float32), axis=(1, 2))    # GAP: [B, A]
            e = jnp.broadcast_to((a - a_hat)[:, None, None, :], u0.shape[:3] + (self.audio_dim,))
            return a_hat, err0(e.astype(dt))

        # Initialisation: feedback (top-down predictions), then feedforward (errors).
        p1 = gelu(bn("BNPred_1")(down(pred2(v))))
        p0 = gelu(bn("BNPred_0")(down(pred1(p1))))
        if 2 * p0.shape[1] + 1 != p1.shape[1]:
            raise ValueError(f"PCM: level sizes {p1.shape[1]} -> {p0.shape[1]} do not invert")
        a_hat, e0 = audio_error(p0)
        u0 = gelu(bn("BNError_0")(p0 + alpha[0] * e0))
        u1 = gelu(bn("BNError_1")(p1 + alpha[1] * err1(u0 - p0)))
        u2 = gelu(bn("BNError_2")(v + alpha[2] * err2(upsample2_align_corners(u1 - p1))))
        for name, x in (("p1", p1), ("p0", p0), ("a_hat", a_hat), ("u0", u0), ("u1", u1), ("u2", u2)):
            self.sow("intermediates", f"init/{name}", x)

        for t in range(self.cycles):
            u2 = u2_mix = gelu((1 - beta[2]) * u2 + beta[2] * v)
            p1 = down(pred2(u2))
            u1 = u1_mix = gelu(bn(f"BNPred_step_{2 * t + 1}")((1 - beta[1]) * u1 + beta[1] * p1))
            p0 = down(pred1(u1))
            u0 = u0_mix = gelu(bn(f"BNPred_step_{2 * t}")((1 - beta[0]) * u0 + beta[0] * p0))
            a_hat, e0 = audio_error(u0)
            u0 = gelu(bn(f"BNError_step_{3 * t}")(u0 + alpha[0] * e0))
            u1 = gelu(bn(f"BNError_step_{3 * t + 1}")(u1 + alpha[1] * err1(u0 - p0)))
            u2 = gelu(bn(f"BNError_step_{3 * t + 2}")(u2 + alpha[2] * err2(upsample2_align_corners(u1 - p1))))
            for name, x in (("u2_mix", u2_mix), ("p1", p1), ("u1_mix", u1_mix), ("p0", p0), ("u0_mix", u0_mix),
                            ("a_hat", a_hat), ("u0", u0), ("u1", u1), ("u2", u2)):
                self.sow("intermediates", f"cycle{t}/{name}", x)
        return out(u2)
