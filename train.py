r"""Trains a SlowFast-family network.

  python train.py --config configs/demo.py --workdir /tmp/demo
  python train.py --config configs/slowfast_8x8_r50.py --workdir gs://B/run \
      --config.data.data_dir=gs://B/data --config.global_batch_size=512

Any config field can be overridden with `--config.FIELD=VALUE`. Restarting
with the same `--workdir` resumes from its latest checkpoint. Several hosts:
`--jax_distributed` (Cloud TPU pods, Slurm: auto-detected), or
`--coordinator_address/--num_processes/--process_id` (or the environment
variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID).
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (configs/NAME.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints and metrics (local or gs://).")
_JAX_DISTRIBUTED = flags.DEFINE_bool(
    "jax_distributed", False,
    "Call jax.distributed.initialize() with cluster auto-detection (Cloud TPU "
    "pods, Slurm, Open MPI).")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0 (multi-host GPU).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None,
                                      "Number of processes (hosts).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None,
                                   "This process's index.")
flags.mark_flags_as_required(["config", "workdir"])


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing; a `--config` that does not load exits 2.

  ml_collections defers a missing config file's error to the config's first
  use (checked here, with the list of presets), or raises OSError while it
  applies a `--config.FIELD` override.
  """
  try:
    argv = app.parse_flags_with_usage(argv)
    path = config_flags.get_config_filename(flags.FLAGS["config"])
    error = None
  except OSError as e:
    path, error = None, e
  if path is not None or error is not None:
    from slowfast_jax import validate  # pylint: disable=g-import-not-at-top
    try:
      if error is not None:
        raise validate.ConfigError(f"{error} {validate.presets_hint()}")
      validate.check_config_file(path)
    except validate.ConfigError as e:
      print(f"Invalid config: {e}", file=sys.stderr)
      sys.exit(2)
  return argv


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  # Imported here so `--help` and flag errors are instant.
  from slowfast_jax import checkpoint  # pylint: disable=g-import-not-at-top
  from slowfast_jax import sharding  # pylint: disable=g-import-not-at-top
  checkpoint.quiet_library_logs()
  sharding.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value,
                                  _PROCESS_ID.value,
                                  auto=_JAX_DISTRIBUTED.value)
  from slowfast_jax import train_lib  # pylint: disable=g-import-not-at-top
  from slowfast_jax import validate  # pylint: disable=g-import-not-at-top
  try:
    train_lib.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except checkpoint.CheckpointError as e:  # One line: what and how to fix it.
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  except validate.ConfigError as e:
    logging.error("Invalid config: %s", e)
    print(f"Invalid config: {e}", file=sys.stderr)
    sys.exit(2)
  except train_lib.NonFiniteLossError as e:
    logging.error("%s", e)
    print(f"Error: {e}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
