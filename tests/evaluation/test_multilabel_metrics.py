"""Charades mAP against sklearn averaged the release's way; max over views."""

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from slowfast_jax.evaluation import multilabel_metrics

from slowfast_jax.evaluation.metrics import ViewAggregator


def release_map(scores, labels):
  """The release's `get_map`: drop all-negative classes, mean of sklearn APs."""
  keep = ~np.all(labels == 0, axis=0)
  try:
    aps = sk_metrics.average_precision_score(labels[:, keep], scores[:, keep],
                                             average=None)
  except ValueError:
    aps = [0]
  return float(np.mean(aps))


def random_multilabel(videos, classes, seed, decimals=None):
  """Scores (rounded to `decimals` for ties) and multi-hot labels with an
  all-negative class, an all-positive class and a single-positive class."""
  rng = np.random.default_rng(seed)
  labels = (rng.random((videos, classes)) < 0.3).astype(np.int64)
  labels[:, 0] = 0
  labels[:, 1] = 1
  labels[:, 2] = 0
  labels[rng.integers(videos), 2] = 1
  labels[:, 3] = 0  # A second class without positives.
  scores = rng.random((videos, classes)) + 0.5 * labels
  if decimals is not None:
    scores = np.round(scores, decimals)
  return scores, labels


@pytest.mark.parametrize("decimals", [None, 1, 0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_equals_sklearn_the_release_way(seed, decimals):
  scores, labels = random_multilabel(40, 12, seed, decimals)
  got = multilabel_metrics.mean_average_precision(scores, labels)
  assert got == pytest.approx(release_map(scores, labels), abs=1e-12)


def test_per_class_ap_equals_sklearn_with_ties():
  scores, labels = random_multilabel(25, 7, 5, decimals=1)
  keep = labels.any(axis=0)
  got = multilabel_metrics.average_precision_per_class(scores, labels)
  want = sk_metrics.average_precision_score(labels[:, keep], scores[:, keep],
                                            average=None)
  np.testing.assert_allclose(got[keep], want, rtol=0, atol=1e-12)
  assert np.isnan(got[~keep]).all()


def test_hand_made_cases():
  # One class, positives ranked 1st and 3rd: AP = (1 + 2/3) / 2.
  ap = multilabel_metrics.average_precision_per_class(
      np.array([[0.9], [0.8], [0.7], [0.1]]), np.array([[1], [0], [1], [0]]))
  assert ap[0] == pytest.approx((1 + 2 / 3) / 2)
  # A tie between a positive and a negative is one threshold: precision 1/2.
  ap = multilabel_metrics.average_precision_per_class(
      np.array([[0.5], [0.5]]), np.array([[0], [1]]))
  assert ap[0] == pytest.approx(0.5)
  # No class with a positive: the release reports 0.
  assert multilabel_metrics.mean_average_precision(
      np.ones((3, 2)), np.zeros((3, 2))) == 0.0


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="one \\(videos, classes\\) shape"):
    multilabel_metrics.mean_average_precision(np.ones((3, 2)), np.ones((3, 3)))
  with pytest.raises(ValueError, match="multi-hot"):
    multilabel_metrics.mean_average_precision(np.ones((2, 2)),
                                              np.full((2, 2), 2))


def test_max_over_views_then_map():
  """`ENSEMBLE_METHOD: max`: per-video element-wise max of the views' scores.

  The aggregator carries each video's multi-hot labels (`multi_label`);
  scores include negatives (logits), which the max must keep (the release
  starts its max from -1e10, not 0).
  """
  videos, views, classes = 9, 4, 6
  rng = np.random.default_rng(3)
  view_scores = rng.normal(-1.0, 1.0, (videos, views, classes))
  _, labels = random_multilabel(videos, classes, 4)
  aggregator = ViewAggregator(classes, views, ensemble="max",
                              multi_label=True)
  video, view = np.divmod(rng.permutation(videos * views), views)
  for start in range(0, len(video), 5):
    v, w = video[start:start + 5], view[start:start + 5]
    aggregator.add(view_scores[v, w], labels[v], v, w, np.ones(len(v)))
  index, got_labels, scores = aggregator.result()
  want = view_scores.max(axis=1)
  np.testing.assert_array_equal(index, np.arange(videos))
  np.testing.assert_array_equal(got_labels, labels)
  np.testing.assert_array_equal(scores, want)
  assert (want < 0).any()
  assert multilabel_metrics.mean_average_precision(
      scores, got_labels) == pytest.approx(release_map(want, labels),
                                           abs=1e-12)
  # Views of one video with other labels are an input-pipeline bug, in one
  # batch or across batches.
  other = labels[:2].copy()
  other[1] = 1 - other[0]
  with pytest.raises(ValueError, match="different labels"):
    aggregator.add(view_scores[:2, 0], other, np.array([9, 9]),
                   np.array([0, 1]), np.ones(2))
  aggregator.add(view_scores[:1, 0], other[:1], np.array([10]),
                 np.array([0]), np.ones(1))
  with pytest.raises(ValueError, match="different labels"):
    aggregator.add(view_scores[:1, 0], other[1:], np.array([10]),
                   np.array([1]), np.ones(1))
