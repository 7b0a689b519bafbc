"""Confusion-matrix and per-class-accuracy figures of a multi-view test, and
the per-class AP of a detection test.

Classes are sorted by top-1 accuracy (best first) in both figures, so the
confusion matrix's diagonal fades from the easy classes to the hard ones and
the off-diagonal mass of the hard classes sits together at the bottom. The
figures grow with the class count (0.12 inch per class above 50, 150 dpi),
so all 400 Kinetics names stay legible at 6 pt when zoomed in.
"""

from typing import Sequence

from etils import epath
import matplotlib

matplotlib.use("Agg")  # Files only: no display on servers.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib import colors  # pylint: disable=g-import-not-at-top
import numpy as np

from slowfast_jax.evaluation import metrics as eval_metrics

CONFUSION_FILE = "confusion_matrix.png"
PER_CLASS_FILE = "per_class_accuracy.png"
PER_CLASS_AP_FILE = "per_class_ap.png"
DPI = 150  # With 0.12 inch per class: 18 pixels per class row.


def class_order(per_class: np.ndarray) -> np.ndarray:
  """Class indices by accuracy, best first; classes without videos last."""
  key = np.where(np.isnan(per_class), -1.0, per_class)
  return np.argsort(-key, kind="stable")


def _side_inches(num_classes: int) -> float:
  return max(6.0, 0.12 * num_classes)


def _label_fontsize(num_classes: int) -> float:
  return float(np.clip(2400.0 / max(num_classes, 1), 6.0, 9.0))


def plot_per_class_accuracy(per_class: np.ndarray, class_names: Sequence[str],
                            path: epath.PathLike,
                            metric: str = "top-1 accuracy") -> None:
  """Horizontal bars of each class's `metric` (top-1 accuracy, or AP), best
  class on top; NaN (a class without examples) at the bottom."""
  n = len(per_class)
  order = class_order(per_class)
  values = np.nan_to_num(per_class[order], nan=0.0)
  fig, ax = plt.subplots(figsize=(8.0, _side_inches(n) + 1.0))
  ax.barh(np.arange(n), values, height=0.8, color="tab:blue")
  ax.set_yticks(np.arange(n))
  ax.set_yticklabels([class_names[i] for i in order],
                     fontsize=_label_fontsize(n))
  ax.set_ylim(n - 0.5, -0.5)
  ax.set_xlim(0.0, 1.0)
  ax.set_xlabel(metric)
  mean = np.nanmean(per_class) if np.isfinite(per_class).any() else np.nan
  ax.axvline(mean, color="tab:red", linewidth=1.0)
  ax.set_title(f"Per-class {metric} (mean {mean:.3f}), sorted")
  ax.grid(axis="x", linewidth=0.3)
  fig.tight_layout()
  _save(fig, path)


def plot_confusion_matrix(confusion: np.ndarray, per_class: np.ndarray,
                          class_names: Sequence[str],
                          path: epath.PathLike) -> None:
  """Row-normalized confusion matrix, classes sorted by accuracy.

  Log colour scale: with hundreds of classes most confusions are a few
  percent and would vanish on a linear scale.
  """
  n = len(per_class)
  order = class_order(per_class)
  matrix = confusion[np.ix_(order, order)].astype(np.float64)
  rows = matrix.sum(axis=1, keepdims=True)
  matrix = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
  side = _side_inches(n)
  fig, ax = plt.subplots(figsize=(side + 1.5, side))
  floor = 1.0 / max(rows.max(), 1.0)
  image = ax.imshow(np.ma.masked_equal(matrix, 0.0), cmap="viridis",
                    norm=colors.LogNorm(vmin=min(floor, 1.0), vmax=1.0),
                    interpolation="nearest")
  names = [class_names[i] for i in order]
  fontsize = _label_fontsize(n)
  ax.set_xticks(np.arange(n))
  ax.set_xticklabels(names, rotation=90, fontsize=fontsize)
  ax.set_yticks(np.arange(n))
  ax.set_yticklabels(names, fontsize=fontsize)
  ax.set_xlabel("predicted class (top-1)")
  ax.set_ylabel("true class")
  ax.set_title("Confusion matrix (row-normalized), classes sorted by accuracy")
  fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
  fig.tight_layout()
  _save(fig, path)


def _save(fig, path: epath.PathLike) -> None:
  with epath.Path(path).open("wb") as f:
    fig.savefig(f, format="png", dpi=DPI)
  plt.close(fig)


def write_plots(output_dir: epath.PathLike, labels: np.ndarray,
                scores: np.ndarray, class_names: Sequence[str]
                ) -> list[epath.Path]:
  """Writes both figures into `output_dir`; returns their paths."""
  num_classes = scores.shape[1]
  if len(class_names) != num_classes:
    raise ValueError(f"{len(class_names)} class names for {num_classes} "
                     "classes.")
  output_dir = epath.Path(output_dir)
  output_dir.mkdir(parents=True, exist_ok=True)
  per_class = eval_metrics.per_class_accuracy(scores, labels, num_classes)
  confusion = eval_metrics.confusion_matrix(scores, labels, num_classes)
  paths = [output_dir / CONFUSION_FILE, output_dir / PER_CLASS_FILE]
  plot_confusion_matrix(confusion, per_class, class_names, paths[0])
  plot_per_class_accuracy(per_class, class_names, paths[1])
  return paths


def write_ap_plot(output_dir: epath.PathLike,
                  per_class_ap: dict[str, float | None],
                  metric: str = "frame AP@0.5 IoU") -> epath.Path:
  """Writes the per-class AP bars of a detection test (`ava_evaluator`) or
  a multi-label one (`metric="AP"`); classes without ground truth (None) at
  the bottom. Returns the path."""
  output_dir = epath.Path(output_dir)
  output_dir.mkdir(parents=True, exist_ok=True)
  values = np.asarray([np.nan if v is None else v
                       for v in per_class_ap.values()], np.float64)
  path = output_dir / PER_CLASS_AP_FILE
  plot_per_class_accuracy(values, list(per_class_ap), path,
                          metric=metric)
  return path
