"""R(2+1)D-18, the AVID-CMA variant used by CrissCross (video backbone).

Official: `crisscross/train/models/backbones/video.py` and `network_blocks.py::BasicR2P1DBlock`
(from facebookresearch/AVID-CMA). Differences from the VMZ/torchvision R(2+1)D: the stem is a
full 3-D conv, the middle width of each (2+1)D factorisation equals the block's output width
(no parameter matching), the second temporal conv of a block has no BN before the residual sum,
and BN (`out_bn`) comes after the sum; the projection shortcut is a strided 1x1x1 conv with no BN.

    video: [B, T, H, W, 3] float (ImageNet-normalised)
      stem_conv (3,7,7) s(1,2,2) p(1,3,3) -> stem_bn -> ReLU -> maxpool (1,3,3) s(1,2,2) p(0,1,1)
      conv2x..conv5x: `blocks[i]` BasicR2P1DBlocks of `widths[i]` channels; the first block of
      conv3x, conv4x and conv5x has stride (2,2,2)
      -> pool "avg" (pretraining) | "max" (finetuning): [B, 512] float32; pool=None: [B, T', H', W', 512]
    8x112x112 -> conv5x map [B, 1, 4, 4, 512].

Parameter names follow the PyTorch module names, so official weights import 1:1:
    conv1.0 -> stem_conv, conv1.1 -> stem_bn, conv{k}x.{j}.<name> -> conv{k}x_{j}/<name>
    (spt_conv1, spt_bn1, tmp_conv1, tmp_bn1, spt_conv2, spt_bn2, tmp_conv2, out_bn, res_conv).
    Conv3d weight [Cout, Cin, kt, kh, kw] -> kernel [kt, kh, kw, Cin, Cout] (one param per conv,
    whatever `conv_impl` computes with); BN weight/bias/running_mean/running_var ->
    scale/bias (params), mean/var (batch_stats).

`conv_impl` chooses how the convolutions are computed; all are the same function of the same
parameters (tested against `lax.conv_general_dilated` in 3-D, forward and gradient):
    "folded": (1,k,k) convs as 2-D convs on [B*T, H, W, C]; (k,1,1) convs as 2-D (k,1) convs on
              [B, T, H*W, C]; the (3,7,7) stem as a 2-D conv over the 3 time-shifted frames
              stacked on channels; 1x1x1 shortcuts as a strided slice and a matmul.
    "im2col": no convolutions at all: every conv is its shifted (strided) slices concatenated on
              channels, then one matmul. Uses kh*kw times the activation memory per conv.
    "mixed":  (default) "im2col" for convs whose output has at most 14x14 positions per frame
              (conv4x, conv5x at 112x112), "folded" for the others.
    "matmul": like "folded", but each (k,1,1) temporal conv is k time-shifted matmuls, summed.
    "3d":     plain `lax.conv_general_dilated` 3-D convs (the reference).
On XLA CPU the 3-D convs (above all their backward pass) are slow; `benchmarks/conv_formulation.py`
measures each formulation (fwd+bwd of the full network). Measured on a shared 2-core AVX-512
CPU at B=4, 8x112x112 (round-robin, three runs): "3d" is ~3x slower than the rest; "folded",
"mixed" and "matmul" are within ~5% of each other (the noise of that machine), "mixed" with the
lowest summed median, hence the default; "im2col" is ~1.4x slower than them.
The max pool after the stem is a max over shifted slices (`max_pool`): its backward on XLA CPU
was ~250 ms of a ~1.4 s step as `reduce_window`'s select-and-scatter.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from avjax.models import batch_norm, constrain_batch, global_pool, max_pool, torch_default_kernel_init

CONV_IMPLS = ("folded", "mixed", "matmul", "im2col", "3d")
# "mixed" computes a conv as "im2col" when its output map has at most this many spatial positions
# (H' * W': conv4x and conv5x at 112x112 input), and as "folded" otherwise.
MIXED_IM2COL_MAX_POSITIONS = 14 * 14
DEFAULT_CONV_IMPL = "mixed"

Pad = tuple[int, int]


def _out_len(n: int, k: int, s: int, pad: Pad) -> int:
    return (n + pad[0] + pad[1] - k) // s + 1


def _shifted(x, axis: int, k: int, s: int, pad: Pad):
    """The k slices of `x` (zero-padded by `pad` along `axis`) that a size-k, stride-s window reads."""
    n_out = _out_len(x.shape[axis], k, s, pad)
    if pad != (0, 0):
        widths = [(0, 0)] * x.ndim
        widths[axis] = pad
        x = jnp.pad(x, widths)
    return [lax.slice_in_dim(x, d, d + s * (n_out - 1) + 1, s, axis) for d in range(k)]


def _matmul(x, w):
    """x [..., Cin] @ w [Cin, Cout] -> [..., Cout]."""
    return lax.dot_general(x, w, (((x.ndim - 1,), (0,)), ((), ())))


def _conv2d(x, kernel, strides, padding, impl: str):
    """x [N, H, W, Cin], kernel [kh, kw, Cin, Cout] -> [N, H', W', Cout]."""
    kh, kw, cin, cout = kernel.shape
    if impl == "im2col":
        cols = []
        for rows in _shifted(x, 1, kh, strides[0], padding[0]):
            cols.extend(_shifted(rows, 2, kw, strides[1], padding[1]))
        cols = cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)
        return _matmul(cols, kernel.reshape(kh * kw * cin, cout))
    return lax.conv_general_dilated(x, kernel, strides, padding,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _temporal_conv(x, kernel, stride: int, pad: Pad, impl: str):
    """x [B, T, H, W, Cin], kernel [kt, Cin, Cout] (a (kt,1,1) conv) -> [B, T', H, W, Cout]."""
    kt, cin, cout = kernel.shape
    b, t, h, w, _ = x.shape
    if kt == 1 and pad == (0, 0):
        return _matmul(x[:, ::stride], kernel[0])
    if impl == "folded":
        y = lax.conv_general_dilated(x.reshape(b, t, h * w, cin), kernel[:, None], (stride, 1),
                                     (pad, (0, 0)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y.reshape(b, y.shape[1], h, w, cout)
    shifts = _shifted(x, 1, kt, stride, pad)
    if impl == "matmul":
        y = _matmul(shifts[0], kernel[0])
        for d in range(1, kt):
            y = y + _matmul(shifts[d], kernel[d])
        return y
    # im2col
    return _matmul(jnp.concatenate(shifts, axis=-1), kernel.reshape(kt * cin, cout))


def conv3d(x, kernel, strides: Sequence[int], padding: Sequence[Pad], impl: str = DEFAULT_CONV_IMPL):
    """A 3-D convolution computed with the formulation `impl` (one of CONV_IMPLS).

    x: [B, T, H, W, Cin]; kernel: [kt, kh, kw, Cin, Cout]; strides: (st, sh, sw);
    padding: ((t0, t1), (h0, h1), (w0, w1)), zeros, as PyTorch's.  -> [B, T', H', W', Cout]
    Identical (up to float rounding) to `lax.conv_general_dilated` with NDHWC/DHWIO layouts.
    """
    if impl not in CONV_IMPLS:
        raise ValueError(f"conv_impl={impl!r}: expected one of {CONV_IMPLS}.")
    strides = tuple(int(s) for s in strides)
    padding = tuple((int(p[0]), int(p[1])) for p in padding)
    if impl == "3d":
        return lax.conv_general_dilated(x, kernel, strides, padding,
                                        dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
    kt, kh, kw, cin, cout = kernel.shape
    st, sh, sw = strides
    pt, ph, pw = padding
    if impl == "mixed":
        positions = _out_len(x.shape[2], kh, sh, ph) * _out_len(x.shape[3], kw, sw, pw)
        impl = "im2col" if positions <= MIXED_IM2COL_MAX_POSITIONS else "folded"
    if kh == kw == 1 and ph == pw == (0, 0):
        # (kt,1,1): a temporal conv (or a pointwise one) after spatial subsampling.
        return _temporal_conv(x[:, :, ::sh, ::sw], kernel[:, 0, 0], st, pt, impl)
    # (kt,kh,kw): stack the kt time-shifted frames on channels, then one 2-D conv per frame.
    if kt == 1 and pt == (0, 0):
        x = x[:, ::st]
    else:
        x = jnp.concatenate(_shifted(x, 1, kt, st, pt), axis=-1)  # [B, T', H, W, kt*Cin]
    b, t = x.shape[:2]
    kernel2d = kernel.transpose(1, 2, 0, 3, 4).reshape(kh, kw, kt * cin, cout)
    y = _conv2d(x.reshape(b * t, *x.shape[2:]), kernel2d, (sh, sw), (ph, pw), impl)
    return y.reshape(b, t, *y.shape[1:])


class Conv3D(nn.Module):
    """A bias-free 3-D conv whose kernel is one [kt, kh, kw, Cin, Cout] float32 param `kernel`.

    Computed by `conv3d(..., impl=conv_impl)` in `dtype`. PyTorch's default Conv3d init.
    """
    features: int
    kernel_size: tuple[int, int, int]
    strides: tuple[int, int, int] = (1, 1, 1)
    padding: tuple[Pad, Pad, Pad] = ((0, 0), (0, 0), (0, 0))
    dtype: Any = jnp.float32
    conv_impl: str = DEFAULT_CONV_IMPL

    @nn.compact
    def __call__(self, x):
        init = nn.with_logical_partitioning(torch_default_kernel_init(), (None, None, None, "in", "out"))
        kernel = self.param("kernel", init, (*self.kernel_size, x.shape[-1], self.features), jnp.float32)
        y = conv3d(constrain_batch(x.astype(self.dtype)), kernel.astype(self.dtype), self.strides,
                   self.padding, self.conv_impl)
        return constrain_batch(y)


class BasicR2P1DBlock(nn.Module):
    """AVID-CMA (2+1)D basic block. x [B, T, H, W, Cin] -> [B, T/st, H/s, W/s, features]."""
    features: int
    strides: tuple[int, int, int] = (1, 1, 1)
    dtype: Any = jnp.float32
    conv_impl: str = DEFAULT_CONV_IMPL

    @nn.compact
    def __call__(self, x, train: bool):
        st, sh, sw = self.strides
        conv = lambda k, s, p, name: Conv3D(self.features, k, s, p, self.dtype, self.conv_impl,
                                            name=name)
        spatial_pad = ((0, 0), (1, 1), (1, 1))
        temporal_pad = ((1, 1), (0, 0), (0, 0))
        y = conv((1, 3, 3), (1, sh, sw), spatial_pad, "spt_conv1")(x)
        y = nn.relu(batch_norm(train, self.dtype, "spt_bn1")(y))
        y = conv((3, 1, 1), (st, 1, 1), temporal_pad, "tmp_conv1")(y)
        y = nn.relu(batch_norm(train, self.dtype, "tmp_bn1")(y))
        y = conv((1, 3, 3), (1, 1, 1), spatial_pad, "spt_conv2")(y)
        y = nn.relu(batch_norm(train, self.dtype, "spt_bn2")(y))
        y = conv((3, 1, 1), (1, 1, 1), temporal_pad, "tmp_conv2")(y)  # no BN before the sum
        if x.shape[-1] != self.features or any(s != 1 for s in self.strides):
            x = conv((1, 1, 1), self.strides, ((0, 0),) * 3, "res_conv")(x)  # no BN
        return nn.relu(batch_norm(train, self.dtype, "out_bn")(y + x))


class R2Plus1D(nn.Module):
    """AVID-CMA R(2+1)D-18 (CrissCross video backbone), 15,379,136 parameters at full size.

    __call__(video [B, T, H, W, 3], train, pool="avg"|"max"|None)
      -> [B, widths[-1]] float32, or the conv5x map [B, T', H', W', widths[-1]] for pool=None.
    """
    widths: Sequence[int] = (64, 128, 256, 512)
    blocks: Sequence[int] = (2, 2, 2, 2)
    stem_width: int = 64
    dtype: Any = jnp.float32
    conv_impl: str = DEFAULT_CONV_IMPL

    @nn.compact
    def __call__(self, x, train: bool, pool: str | None = "avg"):
        if self.conv_impl not in CONV_IMPLS:
            raise ValueError(f"R2Plus1D.conv_impl={self.conv_impl!r}: expected one of {CONV_IMPLS}.")
        if len(self.widths) != len(self.blocks):
            raise ValueError(f"R2Plus1D: widths {tuple(self.widths)} and blocks {tuple(self.blocks)} "
                             "must have the same length (one entry per stage).")
        if x.ndim != 5:
            raise ValueError(f"R2Plus1D expects video [B, T, H, W, C], got shape {x.shape}.")
        x = x.astype(self.dtype)
        x = Conv3D(self.stem_width, (3, 7, 7), (1, 2, 2), ((1, 1), (3, 3), (3, 3)), self.dtype,
                   self.conv_impl, name="stem_conv")(x)
        x = nn.relu(batch_norm(train, self.dtype, "stem_bn")(x))
        x = max_pool(x, (1, 3, 3), (1, 2, 2), ((0, 0), (1, 1), (1, 1)))
        for stage, (width, depth) in enumerate(zip(self.widths, self.blocks)):
            for j in range(depth):
                strides = (2, 2, 2) if stage > 0 and j == 0 else (1, 1, 1)
                x = BasicR2P1DBlock(width, strides, self.dtype, self.conv_impl,
                                    name=f"conv{stage + 2}x_{j}")(x, train)
        return global_pool(x, pool, axes=(1, 2, 3))
