"""Per-video aggregation of view scores, and accuracy metrics (numpy).

The release's TestMeter: a video's score is the sum (`ensemble="sum"`, the
default) or the element-wise max (`"max"`) of its views' eval outputs; top-k
accuracy is computed on those per-video scores.
"""

import numpy as np

# `eval.ensemble` -> how a video's view scores combine (the release's
# DATA.ENSEMBLE_METHOD): the one definition, for `ViewAggregator` and
# `ensemble_views`.
_COMBINE = {"sum": np.add, "max": np.maximum}
ENSEMBLES = tuple(_COMBINE)


def check_ensemble(ensemble: str) -> None:
  """Raises ValueError unless `ensemble` is one of `ENSEMBLES`."""
  if ensemble not in _COMBINE:
    raise ValueError(f"eval.ensemble={ensemble!r}; expected one of "
                     f"{ENSEMBLES}.")


def ensemble_views(scores: np.ndarray, ensemble: str) -> np.ndarray:
  """One video's score `(classes,)` from its views' scores `(views,
  classes)`: their sum or element-wise max, as `ViewAggregator` combines
  them."""
  check_ensemble(ensemble)
  return _COMBINE[ensemble].reduce(np.asarray(scores, np.float64), axis=0)


def as_probabilities(scores: np.ndarray, ensemble: str,
                     num_views) -> np.ndarray:
  """Ensembled scores as probabilities: a sum divided by its `num_views`
  (scalar or broadcasting, e.g. `(videos, 1)`), a max as it is."""
  check_ensemble(ensemble)
  return scores / num_views if ensemble == "sum" else scores


class ViewAggregator:
  """Combines per-view scores into per-video scores.

  `ensemble="sum"` adds the views' scores (the release's default; top-k is
  the same as for the mean), `"max"` takes the element-wise maximum. Every
  (video, view) pair must arrive at most once: a repeat means the input
  pipeline duplicated a view, and raises. A video's views must carry the
  same label: one class, or with `multi_label` one multi-hot row
  `(num_classes,)` (the release's TestMeter checks the same).
  """

  def __init__(self, num_classes: int, num_views: int, ensemble: str = "sum",
               num_videos: int = 0, multi_label: bool = False):
    check_ensemble(ensemble)
    self.num_classes = num_classes
    self.num_views = num_views
    self.ensemble = ensemble
    self.multi_label = multi_label
    self._scores = np.zeros((0, num_classes), np.float64)
    self._labels = np.zeros((0, num_classes) if multi_label else (0,),
                            np.int64)
    self._seen = np.zeros((0, num_views), bool)
    self._grow(num_videos)

  def _grow(self, num_videos: int) -> None:
    extra = num_videos - len(self._labels)
    if extra <= 0:
      return
    fill = 0.0 if self.ensemble == "sum" else -np.inf
    self._scores = np.concatenate(
        [self._scores, np.full((extra, self.num_classes), fill)])
    self._labels = np.concatenate(
        [self._labels, np.full((extra,) + self._labels.shape[1:], -1)])
    self._seen = np.concatenate([self._seen, np.zeros((extra, self.num_views),
                                                       bool)])

  def add(self, scores: np.ndarray, label: np.ndarray, video_index: np.ndarray,
          view_index: np.ndarray, mask: np.ndarray) -> None:
    """Adds one batch of views; rows with `mask == 0` are padding."""
    keep = np.asarray(mask).astype(bool)
    scores = np.asarray(scores, np.float64)[keep]
    label, video, view = (np.asarray(a).astype(np.int64)[keep]
                          for a in (label, video_index, view_index))
    if not len(video):
      return
    if scores.shape[1] != self.num_classes:
      raise ValueError(f"Scores have {scores.shape[1]} classes; the model "
                       f"config says {self.num_classes}.")
    if view.min() < 0 or view.max() >= self.num_views:
      raise ValueError(f"view_index {view.max()} is outside 0..{self.num_views - 1}"
                       " (eval.num_clips × eval.num_crops).")
    self._grow(int(video.max()) + 1)
    pairs = video * self.num_views + view
    if len(np.unique(pairs)) != len(pairs) or self._seen[video, view].any():
      raise ValueError("A (video_index, view_index) pair arrived twice: the "
                       "eval input pipeline duplicated a view.")
    known = self._labels[video]
    differs = known != label
    if self.multi_label:
      differs = differs.any(axis=1)
    self._labels[video] = label
    if ((self._seen[video].any(axis=1) & differs).any() or
        not np.array_equal(self._labels[video], label)):
      raise ValueError("Views of one video carry different labels.")
    self._seen[video, view] = True
    _COMBINE[self.ensemble].at(self._scores, video, scores)

  @property
  def views_per_video(self) -> np.ndarray:
    return self._seen.sum(axis=1)

  def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(video_index, labels, scores)` of every video with at least one view."""
    present = np.flatnonzero(self.views_per_video > 0)
    return present, self._labels[present], self._scores[present]


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
  """Fraction of rows whose label is among the `k` highest scores."""
  if not len(labels):
    return float("nan")
  k = min(k, scores.shape[1])
  top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
  return float((top == labels[:, None]).any(axis=1).mean())


def per_class_accuracy(scores: np.ndarray, labels: np.ndarray,
                       num_classes: int) -> np.ndarray:
  """Top-1 accuracy of each class `(classes,)`; NaN for classes with no video."""
  correct = np.argmax(scores, axis=1) == labels
  total = np.bincount(labels, minlength=num_classes).astype(np.float64)
  hits = np.bincount(labels, weights=correct, minlength=num_classes)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(total > 0, hits / total, np.nan)


def confusion_matrix(scores: np.ndarray, labels: np.ndarray,
                     num_classes: int) -> np.ndarray:
  """Counts `(classes, classes)`: row = true class, column = top-1 prediction."""
  matrix = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(matrix, (labels, np.argmax(scores, axis=1)), 1)
  return matrix


def mean_nll(probabilities: np.ndarray, labels: np.ndarray) -> float:
  """Mean of `-log p[label]` over rows (p floored at 1e-12)."""
  picked = np.take_along_axis(probabilities, labels[:, None], axis=1)[:, 0]
  return float(np.mean(-np.log(np.maximum(picked, 1e-12))))


def compute_metrics(scores: np.ndarray, labels: np.ndarray,
                    num_classes: int) -> dict[str, float]:
  """top-1, top-5 and mean per-class accuracy (over classes with videos)."""
  per_class = per_class_accuracy(scores, labels, num_classes)
  return {
      "top1": topk_accuracy(scores, labels, 1),
      "top5": topk_accuracy(scores, labels, 5),
      "mean_class_accuracy": (float(np.nanmean(per_class))
                              if np.isfinite(per_class).any() else float("nan")),
  }
