"""`--plots` figures: written, sized for the class count, sorted by accuracy."""

import numpy as np
from PIL import Image

from slowfast_jax.evaluation import metrics as eval_metrics
from slowfast_jax.evaluation import plots


def test_class_order_best_first_and_empty_classes_last():
  per_class = np.array([0.5, np.nan, 1.0, 0.0])
  np.testing.assert_array_equal(plots.class_order(per_class), [2, 0, 3, 1])


def test_write_plots(tmp_path):
  rng = np.random.default_rng(0)
  num_classes = 60
  labels = np.repeat(np.arange(num_classes), 3)
  scores = rng.random((len(labels), num_classes))
  scores[np.arange(len(labels)), labels] += rng.random(len(labels))
  names = [f"class {i}" for i in range(num_classes)]
  paths = plots.write_plots(tmp_path / "out", labels, scores, names)
  assert [p.name for p in paths] == [plots.CONFUSION_FILE, plots.PER_CLASS_FILE]
  # One class row gets 0.12 inch at 150 dpi: 18 pixels.
  height = Image.open(paths[0]).size[1]
  assert height >= 18 * num_classes
  assert Image.open(paths[1]).size[1] >= 18 * num_classes
  per_class = eval_metrics.per_class_accuracy(scores, labels, num_classes)
  assert np.isfinite(per_class).all()
