"""LR schedules against CosineLRAV2's numpy construction, and LARC against the apex formula."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from avjax import optim


def reference_cosine_lrav2(base, final, warmup_lr, warmup_iter, total_iter):
    """What `CosineLRAV2.__init__` builds (numpy), indexed by iteration."""
    warm = np.linspace(warmup_lr, base, warmup_iter)
    decay = total_iter - warmup_iter
    cos = final + 0.5 * (base - final) * (1 + np.cos(np.pi * np.arange(decay) / decay))
    return np.concatenate([warm, cos])


def test_warmup_cosine_matches_official_schedule():
    ref = reference_cosine_lrav2(2e-4, 1e-4, 0.0, 20, 100)
    sched = optim.warmup_cosine(2e-4, 1e-4, 20, 100)
    ours = np.array([float(sched(i)) for i in range(100)])
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-12)
    assert ours[0] == 0.0 and abs(ours[19] - 2e-4) < 1e-10
    assert min(ours[20:]) >= 1e-4 - 1e-12  # a floor, not zero


def reference_larc_adam(w, g, lr, trust, wd, eps=1e-8, b1=0.9, b2=0.999, adam_eps=1e-8):
    """One step of LARC(Adam(weight_decay=wd)) as the official larc.py + torch Adam (step 1)."""
    w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
    g = g.copy()
    if w_norm != 0 and g_norm != 0:
        ratio = trust * w_norm / (g_norm + w_norm * wd + eps)
        ratio = min(ratio / lr, 1) if lr > 0 else 1.0
        g = (g + wd * w) * ratio
    m = (1 - b1) * g
    v = (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1), v / (1 - b2)
    return w - lr * m_hat / (np.sqrt(v_hat) + adam_eps)


def _cfg(lr, name="adam_larc"):
    c = ml_collections.ConfigDict(dict(name=name, b1=0.9, b2=0.999, eps=1e-8, momentum=0.9, weight_decay=1e-4,
                                       trust_coefficient=1e-3, larc_clip=True))
    c.groups = [ml_collections.ConfigDict(dict(name="pred", regex="^pred/", schedule="constant", lr=lr * 10)),
                ml_collections.ConfigDict(dict(name="rest", regex=".*", schedule="constant", lr=lr))]
    return c


@pytest.mark.parametrize("scale", [1.0, 1e-4])  # the trust ratio clipped at 1, and active
def test_larc_adam_step_matches_reference(scale):
    rng = np.random.default_rng(0)
    params = {"pred": {"w": rng.normal(size=(4, 3)).astype(np.float32)},
              "enc": {"w": rng.normal(size=(5,)).astype(np.float32), "zero": np.zeros(3, np.float32)}}
    grads = jax.tree.map(lambda p: (scale * rng.normal(size=p.shape)).astype(np.float32), params)
    tx, _ = optim.make_optimizer(_cfg(1e-3), 100, params)
    updates, _ = tx.update(grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose(new["pred"]["w"], reference_larc_adam(params["pred"]["w"], grads["pred"]["w"],
                                                                     1e-2, 1e-3, 1e-4), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(new["enc"]["w"], reference_larc_adam(params["enc"]["w"], grads["enc"]["w"],
                                                                     1e-3, 1e-3, 1e-4), rtol=1e-5, atol=1e-7)
    # ||w|| = 0: LARC leaves the gradient alone (no weight decay either).
    np.testing.assert_allclose(new["enc"]["zero"], reference_larc_adam(params["enc"]["zero"], grads["enc"]["zero"],
                                                                       1e-3, 1e-3, 1e-4), rtol=1e-5, atol=1e-7)


def test_larc_ratio_is_one_when_lr_is_zero():
    w, g = jnp.ones(4), jnp.full(4, 0.5)
    tx = optim.larc(lambda step: jnp.float32(0.0), trust_coefficient=1e-3, weight_decay=0.0)
    out, _ = tx.update(g, tx.init(w), w)
    np.testing.assert_allclose(out, g)


def test_every_parameter_needs_a_group():
    c = _cfg(1e-3)
    c.groups = c.groups[:1]
    with pytest.raises(ValueError, match="matches no config.optim.groups"):
        optim.make_optimizer(c, 10, {"pred": {"w": np.ones(2)}, "enc": {"w": np.ones(2)}})
