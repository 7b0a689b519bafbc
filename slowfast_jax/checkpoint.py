"""Checkpoint directories shared by the converter, training and evaluation.

Layout (an orbax `CheckpointManager` directory, local or `gs://`):

    DIR/<step>/variables/   {'params', 'batch_stats'}   (orbax StandardSave)
    DIR/<step>/metadata/    JSON: model config, class names, source, ...

Training adds more items per step (e.g. `opt_state`); `restore_variables`
reads only the two above, so it works on any of these directories.
"""

from typing import Any

from etils import epath
import orbax.checkpoint as ocp

VARIABLES = "variables"
METADATA = "metadata"


def _manager(directory: epath.PathLike, create: bool = False
             ) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      epath.Path(directory),
      options=ocp.CheckpointManagerOptions(create=create))


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

  Returns `metadata = {}` when the step has none.
  """
  directory = epath.Path(directory)
  with _manager(directory) as manager:
    if step is None:
      step = manager.latest_step()
      if step is None:
        raise FileNotFoundError(f"No checkpoint steps in {directory}.")
    items = {VARIABLES: ocp.args.StandardRestore()}
    has_metadata = (directory / str(step) / METADATA).exists()
    if has_metadata:
      items[METADATA] = ocp.args.JsonRestore()
    restored = manager.restore(step, args=ocp.args.Composite(**items))
  variables = dict(restored[VARIABLES])
  metadata = dict(restored[METADATA]) if has_metadata else {}
  return variables, metadata
