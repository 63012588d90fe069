"""SimSiam projector and predictor heads (CrissCross, PatrickHua/SimSiam style).

Official: `crisscross/train/models/crisscross.py::projection_MLP / prediction_MLP`.

    Projector (num_layers=3): Linear+BN+ReLU -> Linear+BN+ReLU -> Linear+BN (affine, no ReLU)
              (num_layers=2): Linear+BN+ReLU -> Linear+BN    (the middle layer is skipped)
    Predictor:              Linear+BN+ReLU -> Linear           (no output BN)
    x: [B, D] -> [B, out]

Linears are biased, with PyTorch's default init (kernel and bias U(+-1/sqrt(fan_in))); BN is
PyTorch BatchNorm1d (momentum 0.1, eps 1e-5, scale 1, bias 0), statistics over the global batch
under jit. Parameter names follow the PyTorch modules: layer{k}.0 -> layer{k}_linear,
layer{k}.1 -> layer{k}_bn; the predictor's last Linear `layer2` -> layer2. Linear weight
[out, in] -> kernel [in, out].
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from avjax.models import batch_norm, torch_default_bias_init, torch_default_kernel_init


def linear(features: int, fan_in: int, dtype, name: str) -> nn.Dense:
    """PyTorch nn.Linear: biased, kernel and bias U(+-1/sqrt(fan_in)); kernel axes ("in", "out")."""
    return nn.Dense(features, use_bias=True, dtype=dtype, param_dtype=jnp.float32,
                    kernel_init=nn.with_logical_partitioning(torch_default_kernel_init(),
                                                             ("in", "out")),
                    bias_init=torch_default_bias_init(fan_in), name=name)


class Projector(nn.Module):
    """SimSiam projection MLP; 9,455,616 parameters for 512 -> 2048 -> 2048 -> 2048."""
    hidden: int = 2048
    out: int = 2048
    num_layers: int = 3
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        if self.num_layers not in (2, 3):
            raise ValueError(f"Projector.num_layers={self.num_layers}: expected 2 or 3.")
        x = linear(self.hidden, x.shape[-1], self.dtype, "layer1_linear")(x)
        x = nn.relu(batch_norm(train, self.dtype, "layer1_bn")(x))
        if self.num_layers == 3:
            x = linear(self.hidden, x.shape[-1], self.dtype, "layer2_linear")(x)
            x = nn.relu(batch_norm(train, self.dtype, "layer2_bn")(x))
        x = linear(self.out, x.shape[-1], self.dtype, "layer3_linear")(x)
        return batch_norm(train, self.dtype, "layer3_bn")(x)


class Predictor(nn.Module):
    """SimSiam prediction MLP (bottleneck); 2,100,736 parameters for 2048 -> 512 -> 2048."""
    hidden: int = 512
    out: int = 2048
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        x = linear(self.hidden, x.shape[-1], self.dtype, "layer1_linear")(x)
        x = nn.relu(batch_norm(train, self.dtype, "layer1_bn")(x))
        return linear(self.out, x.shape[-1], self.dtype, "layer2")(x)
