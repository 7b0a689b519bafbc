"""AVA detection end to end: train.py (sharded, resumed) and eval.py on 1 and
2 hosts, on a tiny synthetic AVA set made by `configs/demo_ava.py` on first
use (4 training and 3 validation movies of 4 s, 48x64 px)."""

import json
import pathlib
import signal
import sys

import numpy as np
import pytest

from slowfast_jax import checkpoint
from slowfast_jax.data import ava_builder
from slowfast_jax.evaluation import ava_evaluator
from slowfast_jax.evaluation import ava_metrics

import processes
import train_configs

ROOT = processes.ROOT
DEMO = str(ROOT / "configs" / "demo_ava.py")
# 8 training keyframes (seconds 1-2 of 4 movies) in batches of 4: 2 steps per
# epoch, 3 epochs; a checkpoint every 2 steps.
FINAL_STEP = 6


def overrides(data_dir) -> list[str]:
  tiny = {
      "model.width_per_group": 4, "model.num_frames": 8,
      "model.train_crop_size": 32, "data.train_jitter_scales": "(32,40)",
      "data.test_crop_size": 48, "data.data_dir": data_dir,
      "data.demo_train_movies": 4, "data.demo_val_movies": 3,
      "data.demo_frame_size": "(48,64)", "data.demo_seconds": 4.0,
      "data.keyframe_seconds": "(1,2)", "global_batch_size": 4,
      "eval.batch_size": 4, "num_epochs": 3, "optim.warmup_epochs": 1.0,
      "optim.steps": "(0,2)", "optim.lrs": "(1.0,0.1)",
      "eval_every_epochs": 3, "checkpoint_every_steps": 2,
      "keep_checkpoints": 3, "log_every_steps": 1}
  return [f"--config.{k}={v}" for k, v in tiny.items()]


def train(workdir, data_dir, log):
  return processes.launch(
      [sys.executable, "train.py", "--config", DEMO, "--workdir", str(workdir),
       *overrides(data_dir)], log_path=log, devices=2)


def evaluate(workdir, output, log, data_dir, **env):
  return processes.launch(
      [sys.executable, "eval.py", "--checkpoint", str(workdir), "--output",
       str(output), f"--config.data.data_dir={data_dir}", "--plots"],
      log_path=log, **env)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """An uninterrupted run on 2 devices (it also generates the data)."""
  root = tmp_path_factory.mktemp("ava_train")
  data_dir, workdir = root / "data", root / "run"
  log = root / "train.log"
  processes.wait_all([train(workdir, data_dir, log)], [log], timeout=900)
  return data_dir, workdir


def flat_variables(workdir, step=FINAL_STEP):
  import jax  # pylint: disable=g-import-not-at-top
  variables, _ = checkpoint.restore_variables(workdir / "checkpoints",
                                              step=step)
  return {jax.tree_util.keystr(p): np.asarray(v) for p, v in
          jax.tree_util.tree_flatten_with_path(variables)[0]}


def test_training_validates_with_map_and_resumes_bit_identically(
    trained, tmp_path):
  data_dir, reference = trained
  summary = json.loads((reference / "train_summary.json").read_text())
  assert summary["step"] == FINAL_STEP
  assert 0.0 <= summary["val_map"] <= 1.0
  assert summary["val_keyframes"] == 6  # 3 movies × seconds 1, 2.
  assert np.isfinite(summary["train_loss"])
  # Interrupted by SIGTERM after its first checkpoint, then resumed.
  log = tmp_path / "train.log"
  workdir = tmp_path / "run"
  process = train(workdir, data_dir, log)
  first = train_configs.wait_for_checkpoint(process, workdir, after=0,
                                            timeout=600)
  process.send_signal(signal.SIGTERM)
  assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
  stopped = max(train_configs.committed_steps(workdir))
  assert first <= stopped
  processes.wait_all([train(workdir, data_dir, log)], [log], timeout=900)
  if stopped < FINAL_STEP:
    assert f"Resumed from step {stopped}" in log.read_text()
  ours, want = flat_variables(workdir), flat_variables(reference)
  assert ours.keys() == want.keys()
  for name in want:
    np.testing.assert_array_equal(ours[name], want[name], err_msg=name)


def test_eval_on_two_hosts_equals_one_host(trained, tmp_path):
  data_dir, workdir = trained
  one, two = tmp_path / "one", tmp_path / "two"
  logs = [tmp_path / "one.log", tmp_path / "two_0.log", tmp_path / "two_1.log"]
  port = processes.free_port()
  runs = [evaluate(workdir, one, logs[0], data_dir)]
  runs += [evaluate(workdir, two, logs[1 + i], data_dir,
                    **processes.distributed_env(port, 2, i))
           for i in range(2)]
  processes.wait_all(runs, logs, timeout=900)
  results = [json.loads((d / "results.json").read_text()) for d in (one, two)]
  assert results[0]["num_keyframes"] == 6
  assert results[0]["mean_ap"] == results[1]["mean_ap"]
  assert results[0]["per_class_ap"] == results[1]["per_class_ap"]
  assert set(results[0]["per_class_ap"]) == {"slide", "bob", "flicker", "spin"}
  assert (one / "per_class_ap.png").stat().st_size > 0
  # The written detections give the same mAP through the file evaluator.
  detections = [(d / ava_evaluator.DETECTIONS_FILE).read_text()
                for d in (one, two)]
  assert detections[0] == detections[1]
  assert len(detections[0].splitlines()) == results[0]["num_boxes"] * 4
  files = {kind: ava_builder.evaluation_file(data_dir, "ava_synthetic_v1",
                                             kind, "val")
           for kind in ("groundtruth", "label_map", "excluded")}
  from_files = ava_metrics.evaluate_files(
      files["groundtruth"], one / ava_evaluator.DETECTIONS_FILE,
      files["label_map"], files["excluded"])
  # The CSV keeps 3 decimals of the boxes and 4 of the scores.
  assert from_files["mean_ap"] == pytest.approx(results[0]["mean_ap"],
                                                abs=0.02)
