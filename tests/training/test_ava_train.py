"""AVA detection end to end: train.py (sharded, resumed) and eval.py on 1 and
2 hosts, with the tiny `configs/demo_ava.py` of `ava_train_configs` (its
synthetic AVA set is made on first use)."""

import json
import signal
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from slowfast_jax import checkpoint
from slowfast_jax import models
from slowfast_jax import train_lib
from slowfast_jax.data import ava_builder
from slowfast_jax.evaluation import ava_evaluator
from slowfast_jax.evaluation import ava_metrics

import ava_train_configs
from model_configs import random_variables
import processes
import train_configs

ROOT = processes.ROOT
CONFIG = str(ROOT / "tests" / "ava_train_configs.py")
FINAL_STEP = 6  # 8 training keyframes in batches of 4, 3 epochs.


def train(workdir, data_dir, log):
  return processes.launch(
      [sys.executable, "train.py", "--config", CONFIG, "--workdir",
       str(workdir), f"--config.data.data_dir={data_dir}"], log_path=log,
      devices=2)


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
  files = {kind: ava_builder.evaluation_file(data_dir, "ava_synthetic_tiny",
                                             kind, "val")
           for kind in ("groundtruth", "label_map", "excluded")}
  from_files = ava_metrics.evaluate_files(
      files["groundtruth"], one / ava_evaluator.DETECTIONS_FILE,
      files["label_map"], files["excluded"])
  # The CSV keeps 3 decimals of the boxes and 4 of the scores.
  assert from_files["mean_ap"] == pytest.approx(results[0]["mean_ap"],
                                                abs=0.02)


def test_init_from_a_kinetics_checkpoint_keeps_the_backbone(tmp_path):
  """A classification checkpoint of the same backbone initialises a
  detection model: every backbone array is the checkpoint's, the head is
  fresh (`init_head = "reinit"`, as in the AVA presets)."""
  config = ava_train_configs.get_config()
  kinetics = config.model.copy_and_resolve_references()
  kinetics.detection = False
  kinetics.spatial_strides = [1, 2, 2, 2]
  kinetics.spatial_dilations = [1, 1, 1, 1]
  kinetics.num_classes = 400
  inputs = [jnp.zeros(s) for s in models.input_shapes(kinetics, 32)]
  loaded = jax.tree.map(np.asarray, random_variables(
      models.build_model(kinetics), inputs))
  checkpoint.save_variables(tmp_path / "k400", loaded)
  detection_inputs = [jnp.zeros(s) for s in models.input_shapes(
      config.model, 32)]
  fresh = jax.tree.map(np.asarray, random_variables(
      models.build_model(config.model), detection_inputs, seed=1))
  config.init_from = str(tmp_path / "k400")
  got = train_lib.load_pretrained(config, fresh)
  flat = lambda tree: {jax.tree_util.keystr(p): v for p, v in
                       jax.tree_util.tree_flatten_with_path(tree)[0]}
  got, loaded, fresh = flat(got), flat(loaded), flat(fresh)
  assert got.keys() == fresh.keys()
  for name, value in got.items():
    want = fresh[name] if "'head'" in name else loaded[name]
    np.testing.assert_array_equal(value, want, err_msg=name)
  assert any("'head'" in name for name in got)
