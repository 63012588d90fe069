"""benchmarks/scaling.py: the collective counter on compiled HLO, and the collectives of a pure
data-parallel CrissCross step (8 forced CPU devices, conftest)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from avjax import sharding, train
from benchmarks import scaling
from conftest import tiny_config

# An async pair counts once; the start's tuple type (operand, result) is what its bytes count.
ASYNC_HLO = """
ENTRY %main {
  %p = f32[4]{0} parameter(0)
  %ag-start = (f32[4]{0}, f32[32]{0}) all-gather-start(f32[4]{0} %p), dimensions={0}, metadata={op_name="jit(f)/all_gather"}
  %ag-done = f32[32]{0} all-gather-done((f32[4]{0}, f32[32]{0}) %ag-start)
  %ar = (f32[2,3]{1,0}, bf16[8]{0}) all-reduce(%a, %b), to_apply=%add, metadata={op_name="jit(f)/transpose(jvp(g))/dot_general"}
  ROOT %cp-start = (f32[4]{0}, f32[4]{0}, u32[], u32[]) collective-permute-start(f32[4]{0} %p), source_target_pairs={{0,1}}
  %cp-done = f32[4]{0} collective-permute-done(%cp-start)
}
"""


def test_counter_parses_async_pairs_tuples_and_direction():
    ops = scaling.collectives(ASYNC_HLO)
    assert [(op["kind"], op["bytes"], op["backward"]) for op in ops] == [
        ("all-gather", 16 + 128, False), ("all-reduce", 24 + 16, True), ("collective-permute", 16 + 16 + 8, False)]
    assert scaling.count_collectives(ASYNC_HLO) == {"all-reduce": 1, "all-gather": 1, "reduce-scatter": 0,
                                                    "collective-permute": 1, "all-to-all": 0}


def test_counter_on_compiled_hlo_one_of_each_kind():
    mesh = jax.make_mesh((8,), ("d",))

    def body(x):  # x: this device's [8] slice of a [64] array
        gathered = jax.lax.all_gather(x, "d", tiled=True)  # [64]
        return (jax.lax.psum(x, "d").sum() + jax.lax.psum_scatter(gathered, "d", tiled=True).sum()
                + jax.lax.ppermute(x, "d", [(i, (i + 1) % 8) for i in range(8)]).sum()
                + jax.lax.all_to_all(gathered.reshape(8, 8), "d", 0, 0, tiled=True).sum())

    f = jax.jit(jax.shard_map(body, mesh=mesh, in_specs=P("d"), out_specs=P(), check_vma=False))
    hlo = f.lower(jax.ShapeDtypeStruct((64,), jnp.float32, sharding=NamedSharding(mesh, P("d")))).compile().as_text()
    assert scaling.count_collectives(hlo) == dict.fromkeys(scaling.COLLECTIVES, 1)
    assert {op["kind"]: op["bytes"] for op in scaling.collectives(hlo)} == {
        "all-gather": 64 * 4, "all-reduce": 8 * 4, "reduce-scatter": 8 * 4, "collective-permute": 8 * 4,
        "all-to-all": 64 * 4}


def test_data_parallel_gradient_is_one_backward_all_reduce():
    """A linear model, batch split over 8 devices: the gradient is reduced once, in the backward pass."""
    mesh = jax.make_mesh((8,), ("data",))
    w = jax.ShapeDtypeStruct((16, 4), jnp.float32, sharding=NamedSharding(mesh, P()))
    x = jax.ShapeDtypeStruct((64, 16), jnp.float32, sharding=NamedSharding(mesh, P("data")))
    grad = jax.jit(jax.grad(lambda w, x: jnp.sum(jnp.tanh(x @ w))), out_shardings=NamedSharding(mesh, P()))
    summary = scaling.collective_summary(grad.lower(w, x).compile().as_text(), param_bytes=16 * 4 * 4)
    assert summary["counts"]["all-reduce"] == summary["all_reduce_backward"] == 1
    assert summary["grad_reduce_ratio"] == 1.0


@pytest.mark.slow(65)
def test_crisscross_data_parallel_step_collectives():
    """Pure data parallel (data=8): all-reduces, no reduce-scatter, and no all-gather of any
    parameter or activation: the only all-gathers are the two log-mel FFTs (XLA's SPMD partitioner
    replicates a batched FFT instead of splitting its batch dimensions)."""
    config = tiny_config(mesh=[("data", 8), ("fsdp", 1)])
    mesh = sharding.make_mesh(config.mesh)
    setup = train.Setup(config, mesh)
    spec = setup.task.batch_spec(config, train=True)
    batch = {k: jax.ShapeDtypeStruct((config.batch_size,) + shape, dtype, sharding=setup.batch_sharding)
             for k, (shape, dtype) in spec.items()}
    hlo = setup.jitted_step.lower(setup.abstract_state, batch, setup.step_rng).compile().as_text()
    param_bytes = sum(np.prod(x.shape) * 4 for x in jax.tree.leaves(setup.abstract_state["params"]))
    s = scaling.collective_summary(hlo, int(param_bytes))
    print(s)
    assert s["counts"]["reduce-scatter"] == s["counts"]["all-to-all"] == s["counts"]["collective-permute"] == 0
    assert s["counts"]["all-gather"] == 2 and s["all_gather_ops"] == ["fft"], s
    # Forward: BatchNorm's global batch statistics (every BN layer of the 4 encoder passes).
    # Backward: the gradients (and BN's backward); the bytes are 2x the parameters because each
    # encoder runs on two views and XLA reduces each view's partial gradient before adding them.
    assert s["all_reduce_forward"] > 0 and s["all_reduce_backward"] > 0
    assert 1.9 < s["grad_reduce_ratio"] < 2.1, s
