"""Orbax checkpoints: train state + data-iterator state + config, one step per folder.

`WORKDIR/checkpoints/<step>/{state,data,config}`. Saving is asynchronous and keeps the last
`keep` steps. Restoring always goes through an abstract target whose leaves carry the target
`NamedSharding`s, so a checkpoint written on one device count or mesh restores onto another.
The data item is Grain's own handler: one JSON state per process.
"""
from __future__ import annotations

import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Thin wrapper over `ocp.CheckpointManager`; use as a context manager or call `close()`."""

    def __init__(self, directory: str, keep: int = 3, save_every: int = 1000, async_save: bool = True):
        self.directory = os.path.abspath(directory)
        policy = ocp.checkpoint_managers.AnySavePolicy([
            ocp.checkpoint_managers.FixedIntervalPolicy(save_every),
            ocp.checkpoint_managers.PreemptionCheckpointingPolicy(),
        ])
        options = ocp.CheckpointManagerOptions(
            save_decision_policy=policy,
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
            enable_async_checkpointing=async_save,
            create=True,
        )
        self.manager = ocp.CheckpointManager(
            self.directory, options=options,
            item_handlers={"state": ocp.StandardCheckpointHandler(),
                           "data": grain.checkpoint.CheckpointHandler(),
                           "config": ocp.JsonCheckpointHandler()})

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def should_save(self, step: int) -> bool:
        return self.manager.should_save(step)

    def save(self, step: int, state: Any, data_iterator=None, config: dict | None = None,
             force: bool = False) -> bool:
        items = {"state": ocp.args.StandardSave(state)}
        if data_iterator is not None:
            items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
        if config is not None:
            items["config"] = ocp.args.JsonSave(config)
        return self.manager.save(step, args=ocp.args.Composite(**items), force=force)

    def restore(self, abstract_state: Any, step: int | None = None, data_iterator=None) -> Any:
        """Restore the state onto the shardings carried by `abstract_state` (ShapeDtypeStructs).

        If `data_iterator` is given, its position is restored in place.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        items = {"state": ocp.args.StandardRestore(abstract_state)}
        if data_iterator is not None:
            items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
        restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        return restored["state"]

    def restore_config(self, step: int | None = None) -> dict:
        step = self.latest_step() if step is None else step
        return self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]

    def reached_preemption(self, step: int) -> bool:
        return self.manager.reached_preemption(step)

    def wait(self):
        self.manager.wait_until_finished()

    def close(self):
        self.manager.wait_until_finished()
        self.manager.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def abstract_with_shardings(abstract_tree: Any, shardings: Any) -> Any:
    """ShapeDtypeStructs that carry the target shardings (the restore target)."""
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                        abstract_tree, shardings)
