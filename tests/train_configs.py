"""Tiny training configs for the training tests (fake data, small model)."""

from slowfast_jax import config_lib


def tiny_train_config(*, arch: str = "slowfast", batch: int = 8,
                      train_size: int = 32, epochs: int = 1,
                      bn_group_size: int = 0, precise_bn: bool = False):
  """A SlowFast of depth 18 (bottleneck blocks 2, 2, 2, 2) at width 8, 8
  frames, 32 px crops, on `fake` data.

  `train_size // batch` steps per epoch. Precise BatchNorm (on in the
  Kinetics recipe) is off unless asked for: it compiles one more program.
  """
  model = config_lib.model_config(arch=arch, depth=18, num_frames=8,
                                  alpha=4, fusion_kernel=5)
  model.width_per_group = 8
  model.num_classes = 4
  model.bn_group_size = bn_group_size
  config = config_lib.kinetics_config(model)
  config.model.train_crop_size = 32
  config.data.name = "fake"
  config.data.fake_train_size = train_size
  config.data.fake_val_size = 8
  config.data.fake_nan_at_step = 0  # > 0: that step's batch is NaN.
  config.data.test_crop_size = 32
  config.global_batch_size = batch
  config.num_epochs = epochs
  config.optim.warmup_epochs = 0.0
  config.optim.base_lr = 0.05
  config.optim.base_batch_size = batch
  config.eval.batch_size = 8
  config.eval_every_epochs = 1000  # Only at the end.
  config.log_every_steps = 1
  config.checkpoint_every_steps = 1
  config.keep_checkpoints = 2
  config.precise_bn.enabled = precise_bn
  return config


def get_config():
  """`--config tests/train_configs.py` for `train.py` in subprocess tests."""
  return tiny_train_config()


# ---------------------------------------------------------------------------
# Running `train.py` in subprocesses.

import pathlib  # pylint: disable=g-import-not-at-top,wrong-import-position
import subprocess  # pylint: disable=g-import-not-at-top,wrong-import-position
import sys  # pylint: disable=g-import-not-at-top,wrong-import-position
import time  # pylint: disable=g-import-not-at-top,wrong-import-position

ROOT = pathlib.Path(__file__).resolve().parents[1]
THIS_FILE = pathlib.Path(__file__).resolve()


def train_command(workdir, overrides: dict) -> list[str]:
  """`python train.py --config tests/train_configs.py --workdir W --config.k=v`."""
  command = [sys.executable, str(ROOT / "train.py"), "--config",
             str(THIS_FILE), "--workdir", str(workdir)]
  command += [f"--config.{k}={v}" for k, v in overrides.items()]
  return command


def start_train(workdir, overrides: dict, *, log_path, devices: int = 1,
                extra_args=(), **env) -> subprocess.Popen:
  # Imported here: train.py loads this file as its config, without tests/ on
  # its path.
  from processes import launch  # pylint: disable=g-import-not-at-top
  return launch(train_command(workdir, overrides) + list(extra_args),
                log_path=log_path, devices=devices, **env)


def run_train(workdir, overrides: dict, *, log_path, timeout: float = 400,
              **kwargs) -> int:
  """Runs `train.py` to the end; returns its exit status."""
  process = start_train(workdir, overrides, log_path=log_path, **kwargs)
  return process.wait(timeout=timeout)


def committed_steps(workdir) -> list[int]:
  """Steps with a finished checkpoint (orbax renames the tmp dir when done)."""
  directory = pathlib.Path(workdir) / "checkpoints"
  if not directory.exists():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def wait_for_checkpoint(process: subprocess.Popen, workdir, after: int,
                        timeout: float = 400) -> int:
  """Waits until a checkpoint step > `after` is committed; returns it."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    steps = [s for s in committed_steps(workdir) if s > after]
    if steps:
      return steps[0]
    if process.poll() is not None:
      raise AssertionError(f"train.py exited ({process.returncode}) before "
                           f"saving a step after {after}.")
    time.sleep(0.05)
  raise AssertionError(f"no checkpoint after step {after} within {timeout} s")
