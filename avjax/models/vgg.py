"""VGG16 conv features up to conv5_3 (the SSPL frame encoder).

Official: `zjsong/SSPL models/frame_net.py` keeps `list(torchvision.models.vgg16().children())[0][0:29]`,
i.e. `vgg16().features[0:29]`. torchvision's `features` is [conv, ReLU] x 2, pool, [conv, ReLU] x 2,
pool, then three stages of [conv, ReLU] x 3, pool (indices 0..30); [0:29] therefore ends at conv5_3
itself (index 28): the ReLU after it (29) and the last max-pool (30) are not applied, and the map
can be negative. `final_relu=True` gives `features[:30]` (conv5_3 + ReLU) for code that wants it.

    image: [B, H, W, 3] float (ImageNet mean/std normalised) -> [B, H/16, W/16, 512] in `dtype`
    224x224 -> [B, 14, 14, 512]; 14,714,688 parameters.

Convs are 3x3, stride 1, padding 1, biased; max-pools 2x2 stride 2 (floor). Parameter names are
the conventional layer names; official weights map by their index in `features`:
    features.{0,2,5,7,10,12,14,17,19,21,24,26,28} -> conv1_1, conv1_2, conv2_1, ..., conv5_3
    Conv2d weight [Cout, Cin, 3, 3] -> kernel [3, 3, Cin, Cout]; bias as is.
torchvision's init (kaiming_normal fan_out for the kernels, zero biases) is used for a model
trained from scratch; the frozen SSPL encoder loads ImageNet weights (`avjax import-weights`).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from avjax.models import max_pool

# (stage widths, convs per stage) of VGG16 = torchvision cfg "D", without the last pool.
STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def torch_feature_indices() -> dict[str, int]:
    """Flax conv name -> index of that Conv2d in torchvision `vgg16().features`."""
    out, index = {}, 0
    for stage, (_, depth) in enumerate(STAGES, start=1):
        for j in range(1, depth + 1):
            out[f"conv{stage}_{j}"] = index
            index += 2            # conv, ReLU
        index += 1                # max-pool
    return out


class VGG16Conv5(nn.Module):
    """VGG16 `features[0:29]` (SSPL) or, with `final_relu`, `features[:30]`.

    __call__(x [B, H, W, 3]) -> [B, H/16, W/16, 512] (H, W multiples of 16 give exact sizes;
    otherwise each pool floors, as PyTorch's).
    """
    final_relu: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"VGG16Conv5 expects images [B, H, W, 3], got shape {x.shape}.")
        init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # torchvision VGG init
        x = x.astype(self.dtype)
        for stage, (width, depth) in enumerate(STAGES, start=1):
            if stage > 1:
                x = max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
            for j in range(1, depth + 1):
                x = nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), dtype=self.dtype,
                            param_dtype=jnp.float32,
                            kernel_init=nn.with_logical_partitioning(init, (None, None, "in", "out")),
                            bias_init=nn.initializers.zeros, name=f"conv{stage}_{j}")(x)
                if stage < len(STAGES) or j < depth or self.final_relu:
                    x = nn.relu(x)
        return x
