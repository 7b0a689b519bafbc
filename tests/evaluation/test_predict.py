"""predict: top-5 names for raw videos; a bad file is one line, not a stop."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import jax
import jax.numpy as jnp
from slowfast_jax import checkpoint
from slowfast_jax import models
from slowfast_jax import predict
from slowfast_jax.evaluation import metrics

from data_fixtures import write_counter_video
import eval_configs
from model_configs import load_preset
from model_configs import random_variables

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_predict_prints_five_names_per_video_and_reports_bad_files(tmp_path):
  config = eval_configs.get_config()
  config.model.num_classes = 6
  model = models.build_model(config.model)
  inputs = [jnp.zeros(s) for s in models.input_shapes(config.model, 32)]
  ckpt = tmp_path / "ckpt"
  names = [f"motion_{i}" for i in range(6)]
  checkpoint.save_variables(
      ckpt, jax.tree.map(np.asarray, random_variables(model, inputs)),
      metadata={"class_names": names})
  # Several sizes and frame rates, portrait and landscape, one too short.
  videos = []
  for i, (fps, seconds, height, width) in enumerate(
      [(25, 1.5, 48, 64), (60, 1.0, 72, 40), (30, 0.4, 36, 36)]):
    path = tmp_path / f"v{i}.mp4"
    write_counter_video(str(path), fps, seconds, height, width, seed=i)
    videos.append(str(path))
  corrupt = tmp_path / "corrupt.mp4"
  corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(300))
  missing = tmp_path / "missing.mp4"
  args = [str(corrupt), videos[0], str(missing), videos[1], videos[2]]
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
  result = subprocess.run(
      [sys.executable, "-m", "slowfast_jax.predict", "--config",
       str(ROOT / "tests" / "eval_configs.py"), "--checkpoint", str(ckpt),
       "--config.model.num_classes=6", "--json", *args],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 1, result.stderr[-3000:]
  records = [json.loads(line) for line in result.stdout.splitlines()]
  assert [r["video"] for r in records] == videos
  for record in records:
    top = record["top"]
    assert len(top) == 5 and all(t["class"] in names for t in top)
    assert len({t["class"] for t in top}) == 5
    assert [t["score"] for t in top] == sorted(
        (t["score"] for t in top), reverse=True)
  errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
  assert len(errors) == 2
  assert str(corrupt) in errors[0] and str(missing) in errors[1]


@pytest.mark.parametrize("preset, ensemble", [
    ("charades_slowfast_16x8_r50", "max"),  # DATA.ENSEMBLE_METHOD: max.
    ("slowfast_8x8_r50", "sum"),
])
def test_video_score_combines_views_as_eval_does(monkeypatch, preset,
                                                 ensemble):
  """A video's score is eval's (`ViewAggregator` with the preset's
  `eval.ensemble`), a sum divided by the views; top-k prints it as it is."""
  config = load_preset(preset)
  assert config.eval.ensemble == ensemble
  views, classes = 6, 5
  table = np.random.default_rng(0).random((views, classes))
  monkeypatch.setattr(predict, "make_view_scorer",
                      lambda config, variables: lambda video: table)
  got = predict.make_video_scorer(config, None)(np.zeros((views, 1)))
  aggregator = metrics.ViewAggregator(classes, views, ensemble, num_videos=1)
  zeros = np.zeros(views, int)
  aggregator.add(table, zeros, zeros, np.arange(views), np.ones(views))
  want = aggregator.result()[2][0] / (views if ensemble == "sum" else 1)
  np.testing.assert_allclose(got, want, rtol=1e-12)
  names = [f"c{i}" for i in range(classes)]
  order = np.argsort(-want)[:3]
  assert predict.top_classes(got, names, 3) == pytest.approx(
      [(names[i], want[i]) for i in order])
