"""eval: multi-view testing equals a direct computation, whatever the batching
and the number of processes."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

import jax
import jax.numpy as jnp
from slowfast_jax import checkpoint
from slowfast_jax import models
from slowfast_jax import sharding
from slowfast_jax.evaluation import evaluator
from slowfast_jax.evaluation import plots
from slowfast_jax.evaluation import scorer
from slowfast_jax.data import model_input
from slowfast_jax.data import pipeline

from data_fixtures import prepared  # pylint: disable=unused-import
from data_fixtures import video_tree  # pylint: disable=unused-import
import eval_configs
from model_configs import random_variables
import processes

ROOT = processes.ROOT
VIEWS = 2 * 3  # eval_configs: 2 clips × 3 crops.
# 30 views in batches of 14 (7 rows a host with 2 hosts): the last batch is
# padded, on both hosts, and 2 devices a host pad 7 rows to 8.
MULTI_PROCESS_BATCH = 14


def _config(prepared_dataset):
  data_dir, name, _ = prepared_dataset
  config = eval_configs.get_config()
  config.data.data_dir = data_dir
  config.data.name = name
  return config


def _variables(config):
  model = models.build_model(config.model)
  inputs = [jnp.zeros(s) for s in models.input_shapes(config.model, 32)]
  return random_variables(model, inputs, seed=3)


def _host_batches(config, batch_size, process_index=0, process_count=1):
  return list(pipeline.make_eval_dataset(
      config, "val", num_clips=2, num_crops=3, batch_size=batch_size,
      process_index=process_index, process_count=process_count,
      random_view=False).as_numpy_iterator())


def _evaluate(config, variables, batches):
  mesh = sharding.make_mesh()
  return evaluator.evaluate(
      scorer.make_scorer(config.model, config.data, mesh),
      sharding.replicate(variables, mesh), batches,
      num_classes=config.model.num_classes, num_clips=2, num_crops=3,
      num_videos=5, mesh=mesh, progress=False)


def _dataset_video_ids(prepared_dataset):
  """The split's `video_id`s in split order (= `video_index`)."""
  data_dir, name, _ = prepared_dataset
  examples = tfds.builder(name, data_dir=data_dir).as_dataset(
      split="val", shuffle_files=False)
  return [e["video_id"].decode() for e in examples.as_numpy_iterator()]


def _eval_command(ckpt, prepared_dataset, *flags):
  """`python eval.py` with the tiny config on the prepared dataset."""
  data_dir, name, _ = prepared_dataset
  return [sys.executable, str(ROOT / "eval.py"), "--config",
          str(ROOT / "tests" / "eval_configs.py"), "--checkpoint", str(ckpt),
          f"--config.data.data_dir={data_dir}", f"--config.data.name={name}",
          *flags]


def _read_outputs(directory):
  """`results.json` and `scores.npz` of an eval run."""
  results = json.loads((directory / evaluator.RESULTS_FILE).read_text())
  return results, dict(np.load(directory / evaluator.SCORES_FILE))


def _numpy_reference(config, variables, batches):
  """Per-view scores straight from the model, summed per video in numpy."""
  model = models.build_model(config.model)
  apply = jax.jit(model.apply, static_argnames="output")
  scores, labels = {}, {}
  for batch in batches:
    pathways = model_input.prepare_pathways(jnp.asarray(batch["video"]),
                                            config.model, config.data)
    # The release's test output in numpy: softmax per position, then mean.
    logits = np.asarray(apply(variables, pathways,
                              output="per_position_logits"), np.float64)
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    view_scores = (exp / exp.sum(-1, keepdims=True)).mean(axis=(1, 2, 3))
    for row in np.flatnonzero(batch["mask"]):
      video = int(batch["video_index"][row])
      scores[video] = scores.get(video, 0) + view_scores[row]
      labels[video] = int(batch["label"][row])
  videos = sorted(scores)
  stacked = np.stack([scores[v] for v in videos])
  label = np.array([labels[v] for v in videos])
  ranked = np.argsort(-stacked, axis=1)
  return {
      "top1": float(np.mean(ranked[:, 0] == label)),
      "top5": float(np.mean([l in r[:5] for l, r in zip(label, ranked)])),
      "scores": stacked,
  }


def test_eval_equals_numpy_for_any_batching_and_host_count(prepared):
  config = _config(prepared)
  variables = _variables(config)
  # 30 views: batch 4 does not divide them (padding), batch 5 does.
  by_four = _host_batches(config, 4)
  expected = _numpy_reference(config, variables, by_four)
  result = _evaluate(config, variables, by_four)
  assert result.metrics["num_videos"] == 5
  assert result.metrics["num_views"] == 5 * VIEWS
  assert result.metrics["top1"] == expected["top1"]
  assert result.metrics["top5"] == expected["top5"]
  np.testing.assert_allclose(result.scores, expected["scores"], rtol=1e-5)
  # Summed softmax scores: each view contributes probabilities summing to 1.
  np.testing.assert_allclose(result.scores.sum(1), VIEWS, rtol=1e-5)
  np.testing.assert_array_equal(result.video_ids, _dataset_video_ids(prepared))

  by_five = _evaluate(config, variables, _host_batches(config, 5))
  np.testing.assert_allclose(by_five.scores, result.scores, rtol=1e-5)
  assert by_five.metrics["top1"] == result.metrics["top1"]

  # Two hosts: each reads its own share; a global batch is both hosts' rows.
  hosts = [_host_batches(config, 4, i, 2) for i in range(2)]
  assert len(hosts[0]) == len(hosts[1])
  merged = [{k: np.concatenate([a[k], b[k]]) for k in a}
            for a, b in zip(*hosts)]
  two_hosts = _evaluate(config, variables, merged)
  assert two_hosts.metrics["num_views"] == 5 * VIEWS
  np.testing.assert_allclose(two_hosts.scores, result.scores, rtol=1e-5)
  assert two_hosts.metrics["top1"] == result.metrics["top1"]
  np.testing.assert_array_equal(two_hosts.video_ids, result.video_ids)


def test_eval_cli_writes_results_next_to_the_checkpoint(prepared, tmp_path):
  config = _config(prepared)
  variables = _variables(config)
  ckpt = tmp_path / "ckpt"
  checkpoint.save_variables(ckpt, jax.tree.map(np.asarray, variables))
  result = subprocess.run(
      _eval_command(ckpt, prepared, "--config.eval.batch_size=5", "--plots"),
      cwd=ROOT, env=processes.subprocess_env(), capture_output=True,
      text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  results, scores = _read_outputs(ckpt)
  expected = _evaluate(config, variables, _host_batches(config, 4))
  assert results["num_videos"] == 5 and results["num_views"] == 5 * VIEWS
  assert results["top1"] == expected.metrics["top1"]
  assert results["top5"] == expected.metrics["top5"]
  np.testing.assert_allclose(scores["scores"], expected.scores, rtol=1e-5)
  # One row per video: the dataset's id (e.g. `val/a1.mp4`), index, label.
  np.testing.assert_array_equal(scores["video_id"],
                                _dataset_video_ids(prepared))
  np.testing.assert_array_equal(scores["video_index"], np.arange(5))
  np.testing.assert_array_equal(scores["label"], expected.labels)
  for name in (plots.CONFUSION_FILE, plots.PER_CLASS_FILE):
    assert (ckpt / name).stat().st_size > 0


@pytest.fixture(scope="module")
def one_process_eval(prepared, tmp_path_factory):
  """A checkpoint, and the outputs of `eval.py` on it as one process."""
  tmp = tmp_path_factory.mktemp("one_process_eval")
  ckpt = tmp / "ckpt"
  checkpoint.save_variables(
      ckpt, jax.tree.map(np.asarray, _variables(_config(prepared))))
  log = tmp / "log.txt"
  run = processes.launch(
      _eval_command(ckpt, prepared, f"--output={tmp / 'out'}",
                    f"--config.eval.batch_size={MULTI_PROCESS_BATCH}"),
      log_path=log)
  processes.wait_all([run], [log], timeout=600)
  return ckpt, _read_outputs(tmp / "out")


@pytest.mark.parametrize("devices", [1, 2])
def test_two_processes_equal_one_process(prepared, one_process_eval,
                                         tmp_path, devices):
  ckpt, (expected_results, expected_scores) = one_process_eval
  port = processes.free_port()
  outputs = [tmp_path / f"out{i}" for i in range(2)]
  log_paths = [tmp_path / f"process{i}.txt" for i in range(2)]
  workers = [
      processes.launch(
          _eval_command(ckpt, prepared, f"--output={outputs[i]}",
                        f"--config.eval.batch_size={MULTI_PROCESS_BATCH}"),
          log_path=log_paths[i], devices=devices,
          **processes.distributed_env(port, num_processes=2, process_id=i))
      for i in range(2)]
  logs = processes.wait_all(workers, log_paths, timeout=600)
  # Each process read only its share (videos 0-2 and 3-4), yet process 0
  # has every view, and it alone writes.
  assert "Process 0 fed 18 of the 30 views." in logs[0]
  assert "Process 1 fed 12 of the 30 views." in logs[1]
  assert not outputs[1].exists()
  results, scores = _read_outputs(outputs[0])
  for key in ("top1", "top5", "mean_class_accuracy", "num_videos",
              "num_views"):
    assert results[key] == expected_results[key], key
  for key in ("video_id", "video_index", "label"):
    np.testing.assert_array_equal(scores[key], expected_scores[key], key)
  np.testing.assert_array_equal(scores["video_id"],
                                _dataset_video_ids(prepared))
  np.testing.assert_allclose(scores["scores"], expected_scores["scores"],
                             rtol=1e-6)
