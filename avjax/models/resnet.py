"""ResNet-18: on log-mel spectrograms (CrissCross audio backbone) and on images (SACL, torchvision).

ResNet18Image (below) is torchvision's image network; its docstring has the details.
ResNet18Audio, official: `crisscross/train/models/backbones/audio.py`: torchvision `BasicBlock`s
with one input channel; stem Conv2d(1->64, 7x7, s2, p3, no bias) -> BN -> ReLU -> MaxPool(3, s2,
p1); layers of 2 blocks at 64/128/256/512 channels with strides 1,2,2,2; projection shortcut
conv1x1(stride)+BN; convs kaiming_normal (fan_out, ReLU gain), BN scale 1 / bias 0, no zero-init
of the last BN.

    spec: [B, F, T] or [B, F, T, 1] float (normalised log-mel; F is the image height, T the width)
      -> pool "avg" | "max": [B, 512] float32; pool=None: the conv5x map [B, F', T', 512]
    80x201 (2 s) -> conv5x [B, 3, 7, 512].

Every convolution has explicit PyTorch padding, so output sizes match PyTorch exactly.
Parameter names follow the PyTorch module names, so official weights import 1:1:
    conv1.0 -> stem_conv, conv1.1 -> stem_bn, block{k}.{j}.<name> -> block{k}_{j}/<name>
    (conv1, bn1, conv2, bn2; downsample.0 -> downsample_conv, downsample.1 -> downsample_bn).
    Conv2d weight [Cout, Cin, kh, kw] -> kernel [kh, kw, Cin, Cout].
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from avjax.models import batch_norm, global_pool, max_pool


def _conv(features: int, kernel: int, stride: int, padding: int, dtype, name: str) -> nn.Conv:
    """Bias-free Conv2d with PyTorch padding and torchvision ResNet init (kaiming_normal fan_out)."""
    init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride),
                   padding=((padding, padding), (padding, padding)), use_bias=False, dtype=dtype,
                   param_dtype=jnp.float32,
                   kernel_init=nn.with_logical_partitioning(init, (None, None, "in", "out")),
                   name=name)


class BasicBlock(nn.Module):
    """torchvision BasicBlock: conv3x3(s)-BN-ReLU-conv3x3-BN, + shortcut, ReLU.

    x [B, H, W, Cin] -> [B, H/s, W/s, features]. The shortcut is conv1x1(s)+BN when the stride or
    the width changes, the identity otherwise.
    """
    features: int
    stride: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        y = _conv(self.features, 3, self.stride, 1, self.dtype, "conv1")(x)
        y = nn.relu(batch_norm(train, self.dtype, "bn1")(y))
        y = _conv(self.features, 3, 1, 1, self.dtype, "conv2")(y)
        y = batch_norm(train, self.dtype, "bn2")(y)
        if self.stride != 1 or x.shape[-1] != self.features:
            x = _conv(self.features, 1, self.stride, 0, self.dtype, "downsample_conv")(x)
            x = batch_norm(train, self.dtype, "downsample_bn")(x)
        return nn.relu(y + x)


class ResNet18Audio(nn.Module):
    """ResNet-18 for log-mel input (CrissCross audio backbone), 11,170,240 parameters at full size.

    __call__(spec [B, F, T] or [B, F, T, in_channels], train, pool="avg"|"max"|None)
      -> [B, widths[-1]] float32, or the conv5x map [B, F', T', widths[-1]] for pool=None.
    """
    widths: Sequence[int] = (64, 128, 256, 512)
    blocks: Sequence[int] = (2, 2, 2, 2)
    in_channels: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool, pool: str | None = "avg"):
        if len(self.widths) != len(self.blocks):
            raise ValueError(f"ResNet18Audio: widths {tuple(self.widths)} and blocks "
                             f"{tuple(self.blocks)} must have the same length (one per stage).")
        if x.ndim == 3 and self.in_channels == 1:
            x = x[..., None]
        if x.ndim != 4 or x.shape[-1] != self.in_channels:
            raise ValueError(f"ResNet18Audio expects spec [B, F, T] or [B, F, T, {self.in_channels}], "
                             f"got shape {x.shape}.")
        x = x.astype(self.dtype)
        x = _conv(self.widths[0], 7, 2, 3, self.dtype, "stem_conv")(x)
        x = nn.relu(batch_norm(train, self.dtype, "stem_bn")(x))
        x = max_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)))
        for stage, (width, depth) in enumerate(zip(self.widths, self.blocks)):
            for j in range(depth):
                stride = 2 if stage > 0 and j == 0 else 1
                x = BasicBlock(width, stride, self.dtype, name=f"block{stage + 1}_{j}")(x, train)
        return global_pool(x, pool, axes=(1, 2))


class ResNet18Image(nn.Module):
    """torchvision ResNet-18 for RGB images up to layer4 (no avgpool / fc): the SACL visual encoder.

    Official: `zjsong/SACL` builds torchvision's ResNet-18 with `layer4` at stride 1 (ImageNet
    weights `resnet18-5c106cde.pth`) and stops after layer4, so 224x224 gives a 14x14 map;
    `layer4_stride=2` is torchvision's own network (7x7). The stride does not change the parameters.
    11,176,512 parameters (torchvision's 11,689,512 less the 513,000 of fc) + 9,600 BN statistics.

    __call__(image [B, H, W, 3] float (ImageNet mean/std normalised), train)
      -> [B, H/32, W/32, 512] (layer4_stride=2) or [B, H/16, W/16, 512] (layer4_stride=1), in `dtype`.

    Names follow torchvision's state dict: conv1, bn1, layer{k}.{j}.<name> -> layer{k}_{j}/<name>
    (conv1, bn1, conv2, bn2; downsample.0 -> downsample_conv, downsample.1 -> downsample_bn).
    """
    layer4_stride: int = 2
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"ResNet18Image expects images [B, H, W, 3], got shape {x.shape}.")
        if self.layer4_stride not in (1, 2):
            raise ValueError(f"ResNet18Image.layer4_stride={self.layer4_stride}: expected 1 (SACL) "
                             f"or 2 (torchvision).")
        x = x.astype(self.dtype)
        x = _conv(64, 7, 2, 3, self.dtype, "conv1")(x)
        x = nn.relu(batch_norm(train, self.dtype, "bn1")(x))
        x = max_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)))
        for stage, width in enumerate((64, 128, 256, 512), start=1):
            for j in range(2):
                stride = 1 if j > 0 or stage == 1 else (self.layer4_stride if stage == 4 else 2)
                x = BasicBlock(width, stride, self.dtype, name=f"layer{stage}_{j}")(x, train)
        return x
