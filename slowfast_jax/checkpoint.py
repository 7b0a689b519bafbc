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

A directory that cannot be used (missing, no steps, a file cut short or
overwritten, a saved tree that differs from the requested one) raises
`CheckpointError` (`checkpoint_errors`), whose one-line message names the
path and the fix; the entry points print it without a traceback. Any other
error is a bug and keeps its traceback.
"""

import functools
import logging
import os
from typing import Any

from absl import logging as absl_logging
from etils import epath
import jax
import orbax.checkpoint as ocp

from slowfast_jax import checkpoint_errors
from slowfast_jax.checkpoint_errors import CheckpointError  # Re-exported.

VARIABLES = "variables"
METADATA = "metadata"
OPT_STATE = "opt_state"
TRAIN_META = "train_meta"
# The validation metrics that pick the best checkpoint (kept besides the last
# K): top-1 for classification, mAP for detection.
BEST_METRICS = ("val_top1", "val_map")
# Where train.py keeps its checkpoints inside the work directory.
WORKDIR_SUBDIR = "checkpoints"
class _QuietLibraries(logging.Filter):
  """Drops INFO chatter of orbax and TensorStore (kept: warnings, errors)."""

  def filter(self, record):
    return record.levelno >= logging.WARNING or not any(
        name in record.pathname for name in ("orbax", "tensorstore"))


def quiet_library_logs() -> None:
  """Keeps orbax's and TensorStore's INFO lines out of absl's log (stderr)."""
  absl_logging.get_absl_handler().addFilter(_QuietLibraries())


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


def all_steps(directory: epath.PathLike) -> list[int]:
  """The committed steps of a checkpoint directory (none if it is missing)."""
  directory = epath.Path(directory)
  if not directory.is_dir():
    return []
  with _manager(directory) as manager:
    return sorted(manager.all_steps())


def find_step(directory: epath.PathLike, step: int | None = None
              ) -> tuple[epath.Path, int]:
  """`(checkpoint directory, step)`: `step`, or the latest, of `directory`.

  `directory` is a checkpoint directory (step subdirectories) or a training
  work directory (its `checkpoints/` is used).

  Raises:
    CheckpointError: no such directory or step.
  """
  if "://" not in str(directory):  # orbax refuses relative local paths.
    directory = os.path.abspath(directory)
  directory = epath.Path(directory)
  if (directory / WORKDIR_SUBDIR).is_dir():  # A train.py work directory.
    directory = directory / WORKDIR_SUBDIR
  if not directory.is_dir():
    raise CheckpointError(
        f"{directory} does not exist; give a checkpoint directory (the "
        "converter's --output) or a train.py --workdir.")
  steps = all_steps(directory)
  if not steps:
    raise CheckpointError(
        f"No checkpoint steps in {directory} (expected {directory}/<step>/"
        f"{VARIABLES}); give the converter's --output or a train.py --workdir "
        "that has saved a step.")
  if step is None:
    return directory, steps[-1]
  if step not in steps:
    raise CheckpointError(f"{directory} has no step {step}; its steps are "
                          f"{', '.join(map(str, steps))}.")
  return directory, step


def _another_step_fix(directory: epath.Path, step: int) -> str:
  others = [s for s in all_steps(directory) if s != step]
  rerun = "re-run the training or conversion that wrote it"
  if not others:
    return f"{rerun}."
  steps = "steps " if len(others) > 1 else "step "
  return (f"read another step (--step N; {directory} also has {steps}"
          f"{', '.join(map(str, others))}) or {rerun}.")


def read_metadata(directory: epath.PathLike, step: int) -> dict[str, Any]:
  """The JSON metadata of `step` of a checkpoint directory ({} if none)."""
  directory = epath.Path(directory)
  if not (directory / str(step) / METADATA).exists():
    return {}
  with _manager(directory) as manager, checkpoint_errors.explained(
      directory / str(step) / METADATA, _another_step_fix(directory, step)):
    restored = manager.restore(step, args=ocp.args.Composite(
        **{METADATA: ocp.args.JsonRestore()}))
  return dict(restored[METADATA])


def restore_variables(directory: epath.PathLike, *, step: int | None = None
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
  """Reads `(variables, metadata)` of `step` (default: the latest step).

  `directory` is a checkpoint directory (step subdirectories) or a training
  work directory (its `checkpoints/` is used). Returns `metadata = {}` when
  the step has none.

  Raises:
    CheckpointError: no such directory or step, or a damaged file.
  """
  directory, step = find_step(directory, step)
  metadata = read_metadata(directory, step)
  with _manager(directory) as manager, checkpoint_errors.explained(
      directory / str(step) / VARIABLES, _another_step_fix(directory, step)):
    target = _local_target(manager.item_metadata(step)[VARIABLES])
    restored = manager.restore(step, args=ocp.args.Composite(
        **{VARIABLES: ocp.args.StandardRestore(target)}))
  return dict(restored[VARIABLES]), metadata


def best_metrics(val_metrics: dict[str, float] | None) -> dict[str, float] | None:
  """The metrics a checkpoint is saved with: those of `BEST_METRICS` in
  `val_metrics` (None without a validation)."""
  if not val_metrics:
    return None
  return {k: val_metrics[k] for k in BEST_METRICS if k in val_metrics}


def best_metric(metrics: dict[str, float]) -> float:
  """The value the best checkpoint is chosen by (the first of
  `BEST_METRICS` that `metrics` holds)."""
  return next(metrics[k] for k in BEST_METRICS if k in metrics)


@functools.cache
def _whole_array_saves_on_cpu() -> None:
  """On CPU, one replica writes each array (orbax's replica-parallel saving off).

  Replica-parallel saving splits a replicated array among its devices and
  compiles a slicing program per shape; CPU devices share one host's memory
  and disk, so the split gains nothing. The first save of a tiny SlowFast
  replicated on 8 simulated CPU devices took 12.4 s with it and 2.2 s
  without (the next ones 4.2 s and 2.2 s). Sets orbax's `jax.Array` handler
  for the process; other backends keep orbax's default.
  """
  if jax.default_backend() == "cpu":
    ocp.type_handlers.register_type_handler(
        jax.Array, ocp.type_handlers.ArrayHandler(use_replica_parallel=False),
        override=True)


def training_manager(directory: epath.PathLike, *, keep_last: int,
                     save_interval_steps: int = 0,
                     async_save: bool = True) -> ocp.CheckpointManager:
  """The training run's manager: keeps the last `keep_last` steps + the best.

  The best is the step with the highest of `BEST_METRICS` among the steps saved
  with metrics (`save_training_state(..., metrics=...)`); steps saved without
  metrics are kept only while they are among the last `keep_last`.
  `manager.should_save(step)` is True every `save_interval_steps` steps (0:
  never) and at a preemption sync point (several hosts); orbax's own
  `save_interval_steps` option would also save the first step and cannot be 0.
  Saves are asynchronous unless `async_save=False`: the arrays are copied to
  host memory before `save` returns and written in the background.
  """
  _whole_array_saves_on_cpu()
  policies = ocp.checkpoint_managers
  preservation = policies.AnyPreservationPolicy([
      policies.LatestN(n=keep_last),
      policies.BestN(get_metric_fn=best_metric, n=1,
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

  Raises:
    CheckpointError: a damaged file, or a saved tree unlike the targets.
  """
  args = ocp.args.Composite(**{
      VARIABLES: ocp.args.StandardRestore(variables),
      OPT_STATE: ocp.args.StandardRestore(opt_state),
      TRAIN_META: ocp.args.JsonRestore(),
  })
  step_dir = epath.Path(manager.directory) / str(step)
  with checkpoint_errors.explained(
      step_dir, _resume_fix(manager, step),
      mismatch_fix="resume with the config this run was trained with, or "
      "train this config in another --workdir."):
    restored = manager.restore(step, args=args)
  return restored[VARIABLES], restored[OPT_STATE], dict(restored[TRAIN_META])


def _resume_fix(manager: ocp.CheckpointManager, step: int) -> str:
  step_dir = epath.Path(manager.directory) / str(step)
  earlier = [s for s in manager.all_steps() if s < step]
  if earlier:
    return (f"move {step_dir} out of {manager.directory} to resume from step "
            f"{max(earlier)}, or train in another --workdir.")
  return f"move {step_dir} away to start again, or train in another --workdir."
