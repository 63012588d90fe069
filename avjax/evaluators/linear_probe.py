"""Linear probe on frozen features: multinomial logistic regression, full batch, in JAX.

Features are standardised with the training set's mean and std, then a softmax classifier with
L2 weight decay is fitted with Adam for a fixed number of full-batch steps (deterministic).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax


@functools.partial(jax.jit, static_argnames=("num_classes", "steps"))
def _fit(x, y, num_classes: int, steps: int, lr: float, weight_decay: float):
    w = jnp.zeros((x.shape[1], num_classes), jnp.float32)
    b = jnp.zeros((num_classes,), jnp.float32)
    tx = optax.adam(lr)
    params = (w, b)
    opt = tx.init(params)

    def loss(params):
        w, b = params
        logits = x @ w + b
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return ce + weight_decay * jnp.sum(w * w)

    def step(carry, _):
        params, opt = carry
        grads = jax.grad(loss)(params)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), None

    (params, _), _ = jax.lax.scan(step, (params, opt), None, length=steps)
    return params


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 num_classes: int, steps: int = 500, lr: float = 1e-2, weight_decay: float = 1e-4) -> float:
    """Top-1 accuracy on the test set of a linear classifier fitted on the train set.

    train_x: [N, D] float; train_y: [N] int; test_x: [M, D]; test_y: [M].
    """
    mean = train_x.mean(0, keepdims=True)
    std = train_x.std(0, keepdims=True) + 1e-6
    xs = jnp.asarray((train_x - mean) / std, jnp.float32)
    w, b = _fit(xs, jnp.asarray(train_y, jnp.int32), num_classes, steps, lr, weight_decay)
    logits = jnp.asarray((test_x - mean) / std, jnp.float32) @ w + b
    return float(np.mean(np.asarray(jnp.argmax(logits, -1)) == np.asarray(test_y)))
