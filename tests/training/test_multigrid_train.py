"""train.py with the multigrid schedule: compile count, SIGTERM mid-cycle and
resume, bit for bit (the style of test_train's resume tests)."""

import json
import pathlib
import signal
import sys

import numpy as np
import pytest

import processes
import test_train
import train_configs

CONFIG = pathlib.Path(__file__).parents[1] / "multigrid_train_config.py"
FINAL_STEP = 9


def start(workdir, log):
  command = [sys.executable, str(train_configs.ROOT / "train.py"), "--config",
             str(CONFIG), "--workdir", str(workdir)]
  return processes.launch(command, log_path=log)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("multigrid_uninterrupted")
  log = workdir / "log.txt"
  assert start(workdir, log).wait(timeout=1200) == 0, log.read_text()[-3000:]
  return workdir


def test_each_phase_compiles_once(uninterrupted):
  summary = json.loads((uninterrupted / "train_summary.json").read_text())
  assert summary["step"] == FINAL_STEP
  assert summary["compiled_train_steps"] == 3  # Crops 16, 23 and 32 px.
  log = (uninterrupted / "log.txt").read_text()
  assert log.count("Multigrid: building the step of phase") == 3


def test_kill_and_sigterm_mid_cycle_then_resume_is_bit_identical(
    tmp_path, uninterrupted):
  log = tmp_path / "log.txt"
  # 1. SIGKILL once step 2 is saved: after the 16 px and 23 px steps of the
  #    first short cycle, before its 32 px step.
  process = start(tmp_path, log)
  train_configs.wait_for_checkpoint(process, tmp_path, after=0, timeout=1200)
  process.send_signal(signal.SIGKILL)
  process.wait(timeout=60)
  killed_at = max(train_configs.committed_steps(tmp_path))
  assert killed_at % 3 != 0, "not mid-cycle"  # 3 steps per cycle.
  # 2. Resume mid-cycle; SIGTERM once it has saved a later step.
  process = start(tmp_path, log)
  train_configs.wait_for_checkpoint(process, tmp_path, after=killed_at,
                                    timeout=1200)
  process.send_signal(signal.SIGTERM)
  assert process.wait(timeout=600) == 0, log.read_text()[-3000:]
  assert f"Resumed from step {killed_at}" in log.read_text()
  stopped = max(train_configs.committed_steps(tmp_path))
  # 3. Resume and finish.
  assert start(tmp_path, log).wait(timeout=1200) == 0, log.read_text()[-3000:]
  if stopped < FINAL_STEP:
    assert f"Resumed from step {stopped}" in log.read_text()
  ours = test_train.flat(test_train.final_variables(tmp_path, FINAL_STEP))
  reference = test_train.flat(
      test_train.final_variables(uninterrupted, FINAL_STEP))
  assert ours.keys() == reference.keys()
  for name in reference:
    np.testing.assert_array_equal(ours[name], reference[name], err_msg=name)
