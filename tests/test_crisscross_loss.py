"""The six SimSiam terms of CrissCross against a hand-written NumPy reference, and stop-gradient."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from avjax.tasks import crisscross


def np_D(p, z):
    cos = np.sum(p * z, -1) / np.maximum(np.linalg.norm(p, axis=-1) * np.linalg.norm(z, axis=-1), 1e-8)
    return -cos.mean()


def np_loss(o, intra=True, sync=True, asyn=True, cv=1.0, ca=1.0, cct=1.0, ccm=1.0):
    pair = lambda x, y: 0.5 * np_D(o["p" + x], o["z" + y]) + 0.5 * np_D(o["p" + y], o["z" + x])
    total, n = 0.0, 0
    if intra:
        total += cv * pair("v1", "v2") + ca * pair("a1", "a2"); n += 2
    if asyn:
        total += cct * (pair("v1", "a2") + pair("a1", "v2")); n += 2
    if sync:
        total += ccm * (pair("v1", "a1") + pair("v2", "a2")); n += 2
    return total / n


def cfg(**kw):
    base = dict(intra=True, synchronous=True, asynchronous=True, vid_coeff=1.0, aud_coeff=1.0, ct_coeff=1.0,
                cm_coeff=1.0)
    base.update(kw)
    return ml_collections.ConfigDict(base)


def outputs(seed=0, b=6, d=16):
    rng = np.random.default_rng(seed)
    return {f"{k}{m}": rng.normal(size=(b, d)).astype(np.float32) for k in "zp" for m in ("v1", "v2", "a1", "a2")}


@pytest.mark.parametrize("flags", [dict(), dict(intra=False), dict(synchronous=False, asynchronous=False),
                                   dict(vid_coeff=0.5, ct_coeff=2.0, cm_coeff=0.25)])
def test_loss_matches_numpy_reference(flags):
    o = outputs()
    loss, terms = crisscross.crisscross_loss({k: jnp.asarray(v) for k, v in o.items()}, cfg(**flags))
    ref = np_loss(o, intra=flags.get("intra", True), sync=flags.get("synchronous", True),
                  asyn=flags.get("asynchronous", True), cv=flags.get("vid_coeff", 1.0),
                  cct=flags.get("ct_coeff", 1.0), ccm=flags.get("cm_coeff", 1.0))
    np.testing.assert_allclose(float(loss), ref, rtol=1e-5)
    assert len(terms) == 2 * sum([flags.get("intra", True), flags.get("synchronous", True),
                                  flags.get("asynchronous", True)])


def test_minimum_is_minus_one_and_hand_value():
    z = np.eye(4, dtype=np.float32)
    same = {f"{k}{m}": z for k in "zp" for m in ("v1", "v2", "a1", "a2")}
    loss, _ = crisscross.crisscross_loss(same, cfg())
    assert float(loss) == pytest.approx(-1.0, abs=1e-6)
    # Orthogonal targets give cos = 0 for every cross-modal term: L = (L_v1v2 + L_a1a2 + 0 + 0 + 0 + 0) / 6.
    other = dict(same, zv1=np.roll(z, 1, 0), zv2=np.roll(z, 1, 0), pv1=np.roll(z, 1, 0), pv2=np.roll(z, 1, 0))
    loss, terms = crisscross.crisscross_loss(other, cfg())
    assert float(terms["L_v1a1"]) == pytest.approx(0.0, abs=1e-6)
    assert float(loss) == pytest.approx((-1 - 1) / 6, abs=1e-6)


def test_stop_gradient_on_targets():
    o = {k: jnp.asarray(v) for k, v in outputs(1).items()}
    grads = jax.grad(lambda o: crisscross.crisscross_loss(o, cfg())[0])(o)
    for k in ("zv1", "zv2", "za1", "za2"):
        assert float(jnp.abs(grads[k]).max()) == 0.0
    for k in ("pv1", "pv2", "pa1", "pa2"):
        assert float(jnp.abs(grads[k]).max()) > 0.0
