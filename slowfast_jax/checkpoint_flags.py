"""`--checkpoint`, `--step` and `--config`: the flags of every command that
reads a checkpoint (`eval.py`, `predict`, `extract`, `export`).

Importing this module defines them; `restore()` reads what they name.
Without `--config` the config stored with the checkpoint is used
(`slowfast_jax.stored_config`); `--config.FIELD=VALUE` overrides either.
"""

import sys
from typing import Any

from absl import flags
from ml_collections import config_flags

from slowfast_jax import stored_config

CONFIG = config_flags.DEFINE_config_file(
    "config", stored_config.PATH, stored_config.FLAG_HELP, lock_config=True)
CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "Checkpoint directory: a converted one, or a training "
    "run's workdir or `workdir/checkpoints`.")
STEP = flags.DEFINE_integer("step", None,
                            "Checkpoint step (default: the latest).")
flags.mark_flags_as_required(["checkpoint"])


def restore() -> tuple[Any, dict[str, Any], dict[str, Any]]:
  """`(config, variables, metadata)` of `--checkpoint` at `--step`.

  Raises:
    checkpoint.CheckpointError: one line saying what is wrong and how to fix
      it (see `checkpoint_config.restore_for_inference`); also when the
      classifier's class count is not the config's.
  """
  # pylint: disable=g-import-not-at-top
  from slowfast_jax import checkpoint_config
  from slowfast_jax.evaluation import evaluator
  # pylint: enable=g-import-not-at-top
  config, variables, metadata = checkpoint_config.restore_for_inference(
      CHECKPOINT.value, flags.FLAGS["config"], STEP.value)
  evaluator.check_num_classes(variables, config.model, CHECKPOINT.value)
  return config, variables, metadata


def restore_or_exit() -> tuple[Any, dict[str, Any], dict[str, Any]]:
  """`restore()` with the libraries' logs quieted; on a `CheckpointError`,
  its one line on stderr and exit status 1.

  """
  from slowfast_jax import checkpoint  # pylint: disable=g-import-not-at-top
  checkpoint.quiet_library_logs()
  try:
    return restore()
  except checkpoint.CheckpointError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)
