"""Multi-label mAP (Charades) as the release computes it, in numpy.

The release's `get_map` (slowfast/utils/meters.py): drop the classes with no
positive video, then the mean over the remaining classes of
`sklearn.metrics.average_precision_score` (per class, `average=None`). If no
class has a positive, sklearn raises and the release reports 0.
"""

import numpy as np


def _checked(scores, labels) -> tuple[np.ndarray, np.ndarray]:
  scores = np.asarray(scores, np.float64)
  labels = np.asarray(labels)
  if scores.shape != labels.shape or scores.ndim != 2:
    raise ValueError(f"scores {scores.shape} and labels {labels.shape} must be "
                     "one (videos, classes) shape.")
  if not np.isin(labels, (0, 1)).all():
    raise ValueError("labels must be multi-hot: 0 or 1 only.")
  return scores, labels


def average_precision_per_class(scores: np.ndarray,
                                labels: np.ndarray) -> np.ndarray:
  """sklearn's average precision of each column `(classes,)`.

  AP = Σ_k (R_k − R_{k−1}) · P_k over the distinct score thresholds in
  decreasing order (tied scores form one threshold), with P_k and R_k the
  precision and recall of "score ≥ threshold k". A column without positives
  gives NaN (sklearn warns and returns 0 there; `mean_average_precision`
  drops such columns first, as the release does).

  Args:
    scores: `(videos, classes)`, any real scores.
    labels: `(videos, classes)`, 1 for a positive, 0 for a negative.
  """
  scores, labels = _checked(scores, labels)
  if not len(scores):
    return np.full(scores.shape[1], np.nan)
  order = np.argsort(-scores, axis=0, kind="stable")
  sorted_scores = np.take_along_axis(scores, order, axis=0)
  hits = np.cumsum(np.take_along_axis(labels, order, axis=0), axis=0,
                   dtype=np.float64)
  # A threshold ends where the next sorted score differs (or at the end).
  ends = np.ones(scores.shape, bool)
  ends[:-1] = sorted_scores[:-1] != sorted_scores[1:]
  hits_at_ends = np.where(ends, hits, 0.0)
  previous = np.zeros_like(hits)
  previous[1:] = np.maximum.accumulate(hits_at_ends, axis=0)[:-1]
  precision = hits / np.arange(1, len(scores) + 1)[:, None]
  with np.errstate(invalid="ignore", divide="ignore"):
    recall_steps = np.where(ends, hits - previous, 0.0) / hits[-1]
  return np.sum(recall_steps * precision, axis=0)


def mean_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
  """The release's Charades mAP: mean AP over classes with a positive video.

  Args:
    scores: `(videos, classes)` per-video scores (e.g. the max over views of
      the sigmoid outputs).
    labels: `(videos, classes)` multi-hot.

  Returns:
    The mean (a fraction, not percent); 0.0 when no class has a positive,
    as the release.
  """
  scores, labels = _checked(scores, labels)
  kept = np.any(labels == 1, axis=0)
  if not kept.any():
    return 0.0
  return float(np.mean(average_precision_per_class(scores[:, kept],
                                                   labels[:, kept])))
