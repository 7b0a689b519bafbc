"""Per-video aggregation and accuracy metrics, against direct numpy."""

import numpy as np
import pytest

from slowfast_jax.evaluation import metrics as eval_metrics


def _random_views(num_videos=7, num_views=6, num_classes=9, seed=0):
  rng = np.random.default_rng(seed)
  scores = rng.dirichlet(np.ones(num_classes), size=(num_videos, num_views))
  labels = rng.integers(0, num_classes, num_videos)
  return scores, labels


def _feed(aggregator, scores, labels, batch_size, seed=1, pad_to=None):
  """Feeds all views in a shuffled order, `batch_size` rows at a time."""
  num_videos, num_views, _ = scores.shape
  video, view = np.divmod(np.arange(num_videos * num_views), num_views)
  order = np.random.default_rng(seed).permutation(len(video))
  video, view = video[order], view[order]
  for start in range(0, len(video), batch_size):
    v, w = video[start:start + batch_size], view[start:start + batch_size]
    s, l, m = scores[v, w], labels[v], np.ones(len(v), np.int32)
    if pad_to:  # Padding rows point at video 0 with garbage scores.
      extra = pad_to - len(v)
      s = np.concatenate([s, np.full((extra, s.shape[1]), 5.0)])
      l, v, w, m = (np.concatenate([a, np.zeros(extra, a.dtype)])
                    for a in (l, v, w, m))
    aggregator.add(s, l, v, w, m)


@pytest.mark.parametrize("ensemble", ["sum", "max"])
@pytest.mark.parametrize("batch_size", [1, 5, 6, 64])
def test_aggregation_matches_numpy(ensemble, batch_size):
  scores, labels = _random_views()
  aggregator = eval_metrics.ViewAggregator(9, 6, ensemble)
  _feed(aggregator, scores, labels, batch_size, pad_to=batch_size)
  video_index, got_labels, got_scores = aggregator.result()
  want = scores.sum(axis=1) if ensemble == "sum" else scores.max(axis=1)
  np.testing.assert_array_equal(video_index, np.arange(7))
  np.testing.assert_array_equal(got_labels, labels)
  np.testing.assert_allclose(got_scores, want, rtol=1e-12)
  np.testing.assert_array_equal(aggregator.views_per_video, np.full(7, 6))
  for video in range(7):  # One video's views at once (predict).
    np.testing.assert_allclose(
        eval_metrics.ensemble_views(scores[video], ensemble), want[video],
        rtol=1e-12)


def test_as_probabilities_divides_a_sum_by_its_views():
  scores = np.array([[3.0, 1.5], [0.5, 0.25]])
  np.testing.assert_array_equal(
      eval_metrics.as_probabilities(scores, "sum", np.array([[3], [1]])),
      [[1.0, 0.5], [0.5, 0.25]])
  np.testing.assert_array_equal(
      eval_metrics.as_probabilities(scores, "max", 3), scores)


def test_duplicate_view_raises():
  scores, labels = _random_views(num_videos=2, num_views=3)
  aggregator = eval_metrics.ViewAggregator(9, 3)
  _feed(aggregator, scores, labels, 4)
  with pytest.raises(ValueError, match="arrived twice"):
    aggregator.add(scores[1, :1], labels[1:], np.array([1]), np.array([2]),
                   np.array([1]))


def test_bad_ensemble_and_view_index():
  with pytest.raises(ValueError, match="eval.ensemble='mean'"):
    eval_metrics.ViewAggregator(3, 2, "mean")
  with pytest.raises(ValueError, match="eval.ensemble='mean'"):
    eval_metrics.ensemble_views(np.ones((2, 3)), "mean")
  aggregator = eval_metrics.ViewAggregator(3, 2)
  with pytest.raises(ValueError, match="view_index 2"):
    aggregator.add(np.ones((1, 3)), np.zeros(1), np.zeros(1), np.full(1, 2),
                   np.ones(1))


def test_metrics_match_direct_computation():
  rng = np.random.default_rng(3)
  num_classes = 12
  scores = rng.random((200, num_classes))
  labels = rng.integers(0, num_classes - 2, 200)  # Two classes never occur.
  metrics = eval_metrics.compute_metrics(scores, labels, num_classes)
  ranks = np.array([(s > s[l]).sum() for s, l in zip(scores, labels)])
  assert metrics["top1"] == pytest.approx(np.mean(ranks == 0))
  assert metrics["top5"] == pytest.approx(np.mean(ranks < 5))
  per_class = [np.mean(ranks[labels == c] == 0) for c in range(num_classes - 2)]
  assert metrics["mean_class_accuracy"] == pytest.approx(np.mean(per_class))
  confusion = eval_metrics.confusion_matrix(scores, labels, num_classes)
  assert confusion.sum() == 200
  np.testing.assert_array_equal(confusion.sum(axis=1),
                                np.bincount(labels, minlength=num_classes))
  np.testing.assert_array_equal(np.diag(confusion)[:num_classes - 2],
                                [np.sum(ranks[labels == c] == 0)
                                 for c in range(num_classes - 2)])
