"""eval: multi-view testing equals a direct computation, whatever the batching."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

import jax
import jax.numpy as jnp
from slowfast_jax import checkpoint
from slowfast_jax import eval_lib
from slowfast_jax import models
from slowfast_jax import plots
from slowfast_jax.data import model_input
from slowfast_jax.data import pipeline

from data_fixtures import prepared  # pylint: disable=unused-import
from data_fixtures import video_tree  # pylint: disable=unused-import
import eval_configs
from model_configs import random_variables

ROOT = pathlib.Path(__file__).resolve().parents[1]
VIEWS = 2 * 3  # eval_configs: 2 clips × 3 crops.


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
  return eval_lib.evaluate(
      variables, batches, model_config=config.model, data_config=config.data,
      num_clips=2, num_crops=3, num_videos=5, progress=False)


def _numpy_reference(config, variables, batches):
  """Per-view scores straight from the model, summed per video in numpy."""
  model = models.build_model(config.model)
  scores, labels = {}, {}
  for batch in batches:
    pathways = model_input.prepare_pathways(jnp.asarray(batch["video"]),
                                            config.model, config.data)
    view_scores = np.asarray(model.apply(variables, pathways,
                                         probabilities=True))
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


def test_eval_cli_writes_results_next_to_the_checkpoint(prepared, tmp_path):
  config = _config(prepared)
  variables = _variables(config)
  ckpt = tmp_path / "ckpt"
  checkpoint.save_variables(ckpt, jax.tree.map(np.asarray, variables))
  data_dir, name, _ = prepared
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
  result = subprocess.run(
      [sys.executable, str(ROOT / "eval.py"), "--config",
       str(ROOT / "tests" / "eval_configs.py"), "--checkpoint", str(ckpt),
       f"--config.data.data_dir={data_dir}", f"--config.data.name={name}",
       "--config.eval.batch_size=5", "--plots"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads((ckpt / "results.json").read_text())
  expected = _evaluate(config, variables, _host_batches(config, 4))
  assert results["num_videos"] == 5 and results["num_views"] == 5 * VIEWS
  assert results["top1"] == expected.metrics["top1"]
  assert results["top5"] == expected.metrics["top5"]
  scores = np.load(ckpt / "scores.npz")
  np.testing.assert_allclose(scores["scores"], expected.scores, rtol=1e-5)
  for name in (plots.CONFUSION_FILE, plots.PER_CLASS_FILE):
    assert (ckpt / name).stat().st_size > 0
