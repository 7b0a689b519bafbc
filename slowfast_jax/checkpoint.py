"""Checkpoint directories shared by the converter, training and evaluation.

Layout (an orbax `CheckpointManager` directory, local or `gs://`):

    DIR/<step>/variables/   {'params', 'batch_stats'}   (orbax StandardSave)
    DIR/<step>/metadata/    JSON: model config, class names, source, ...

Training (`training_manager`, `save_training_state`) adds two items per step:

    DIR/<step>/opt_state/   the optax state                  (StandardSave)
    DIR/<step>/train_meta/  JSON: step, RNG key, input position, epoch

`restore_variables` reads only `variables` and `metadata`, so it works on any
of these directories (evaluation and fine-tuning restore a training
checkpoint that way).
"""

from typing import Any

from etils import epath
import jax
import orbax.checkpoint as ocp

VARIABLES = "variables"
METADATA = "metadata"
OPT_STATE = "opt_state"
TRAIN_META = "train_meta"
# The validation metric that picks the best checkpoint (kept besides the last K).
BEST_METRIC = "val_top1"
# Where train.py keeps its checkpoints inside the work directory.
WORKDIR_SUBDIR = "checkpoints"


def _manager(directory: epath.PathLike, create: bool = False
             ) -> ocp.CheckpointManager:
  # Registered handlers let `item_metadata` describe the saved arrays.
  return ocp.CheckpointManager(
      epath.Path(directory),
      options=ocp.CheckpointManagerOptions(create=create),
      item_handlers={
          VARIABLES: ocp.StandardCheckpointHandler(),
          METADATA: ocp.JsonCheckpointHandler(),
          OPT_STATE: ocp.StandardCheckpointHandler(),
          TRAIN_META: ocp.JsonCheckpointHandler(),
      })


def _local_target(tree_metadata: Any) -> Any:
  """Restore target: every saved array whole on this host's first device.

  Without a target orbax reuses the saving run's device layout, which fails
  when the checkpoint was written on another device count (e.g. a pod).
  """
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  return jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
      tree_metadata)


def save_variables(directory: epath.PathLike, variables: dict[str, Any], *,
                   step: int = 0, metadata: dict[str, Any] | None = None) -> None:
  """Writes `{'params', 'batch_stats'}` (and JSON metadata) as step `step`.

  Args:
    directory: the checkpoint directory (created if needed).
    variables: the Flax variables; numpy or jax arrays.
    step: the step subdirectory to write.
    metadata: JSON-serializable dict, e.g. `{'config': ..., 'class_names': ...}`.
  """
  items = {VARIABLES: ocp.args.StandardSave(variables)}
  if metadata is not None:
    items[METADATA] = ocp.args.JsonSave(metadata)
  with _manager(directory, create=True) as manager:
    manager.save(step, args=ocp.args.Composite(**items), force=True)
    manager.wait_until_finished()


def restore_variables(directory: epath.PathLike, *, step: int | None = None
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
  """Reads `(variables, metadata)` of `step` (default: the latest step).

  `directory` is a checkpoint directory (step subdirectories) or a training
  work directory (its `checkpoints/` is used). Returns `metadata = {}` when
  the step has none.
  """
  directory = epath.Path(directory)
  if (directory / WORKDIR_SUBDIR).is_dir():  # A train.py work directory.
    directory = directory / WORKDIR_SUBDIR
  with _manager(directory) as manager:
    if step is None:
      step = manager.latest_step()
      if step is None:
        raise FileNotFoundError(f"No checkpoint steps in {directory}.")
    target = _local_target(manager.item_metadata(step)[VARIABLES])
    items = {VARIABLES: ocp.args.StandardRestore(target)}
    has_metadata = (directory / str(step) / METADATA).exists()
    if has_metadata:
      items[METADATA] = ocp.args.JsonRestore()
    restored = manager.restore(step, args=ocp.args.Composite(**items))
  variables = dict(restored[VARIABLES])
  metadata = dict(restored[METADATA]) if has_metadata else {}
  return variables, metadata


def training_manager(directory: epath.PathLike, *, keep_last: int,
                     save_interval_steps: int = 0,
                     async_save: bool = True) -> ocp.CheckpointManager:
  """The training run's manager: keeps the last `keep_last` steps + the best.

  The best is the step with the highest `BEST_METRIC` among the steps saved
  with metrics (`save_training_state(..., metrics=...)`); steps saved without
  metrics are kept only while they are among the last `keep_last`.
  `manager.should_save(step)` is True every `save_interval_steps` steps (0:
  never) and at a preemption sync point (several hosts); orbax's own
  `save_interval_steps` option would also save the first step and cannot be 0.
  Saves are asynchronous unless `async_save=False`: the arrays are copied to
  host memory before `save` returns and written in the background.
  """
  policies = ocp.checkpoint_managers
  preservation = policies.AnyPreservationPolicy([
      policies.LatestN(n=keep_last),
      policies.BestN(get_metric_fn=lambda metrics: metrics[BEST_METRIC], n=1,
                     keep_checkpoints_without_metrics=False),
  ])
  save_when = [policies.PreemptionCheckpointingPolicy()]
  if save_interval_steps:
    save_when.append(policies.FixedIntervalPolicy(save_interval_steps))
  options = ocp.CheckpointManagerOptions(
      create=True, enable_async_checkpointing=async_save,
      preservation_policy=preservation, cleanup_tmp_directories=True,
      save_decision_policy=policies.AnySavePolicy(save_when))
  return ocp.CheckpointManager(epath.Path(directory), options=options)


def save_training_state(manager: ocp.CheckpointManager, step: int, *,
                        variables: dict[str, Any], opt_state: Any,
                        train_meta: dict[str, Any], metadata: dict[str, Any],
                        metrics: dict[str, float] | None = None) -> None:
  """Saves one training step (all items); `metrics` rank it for "best"."""
  args = ocp.args.Composite(**{
      VARIABLES: ocp.args.StandardSave(variables),
      OPT_STATE: ocp.args.StandardSave(opt_state),
      TRAIN_META: ocp.args.JsonSave(train_meta),
      METADATA: ocp.args.JsonSave(metadata),
  })
  manager.save(step, args=args, metrics=metrics, force=True)


def restore_training_state(manager: ocp.CheckpointManager, step: int, *,
                           variables: Any, opt_state: Any
                           ) -> tuple[Any, Any, dict[str, Any]]:
  """Reads `(variables, opt_state, train_meta)` of `step`.

  Args:
    manager: from `training_manager`.
    step: the step to read.
    variables, opt_state: targets with the wanted structure, e.g. trees of
      `jax.ShapeDtypeStruct` with shardings on the current mesh; the arrays
      come back with those shardings, whatever devices saved them.
  """
  args = ocp.args.Composite(**{
      VARIABLES: ocp.args.StandardRestore(variables),
      OPT_STATE: ocp.args.StandardRestore(opt_state),
      TRAIN_META: ocp.args.JsonRestore(),
  })
  restored = manager.restore(step, args=args)
  return restored[VARIABLES], restored[OPT_STATE], dict(restored[TRAIN_META])
