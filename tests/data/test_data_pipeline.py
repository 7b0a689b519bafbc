"""tf.data pipelines on a tiny prepared dataset."""

import collections

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_fixtures import GOOD_VIDEOS
from data_fixtures import prepared  # pylint: disable=unused-import
from data_fixtures import tiny_config
from data_fixtures import VAL_VIDEOS
from data_fixtures import video_tree  # pylint: disable=unused-import
from slowfast_jax.data import builder as builder_lib
from slowfast_jax.data import decode
from slowfast_jax.data import pipeline


def _batches(dataset, count):
  iterator = dataset.as_numpy_iterator()
  return [next(iterator) for _ in range(count)]


def _assert_same_batches(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for key in x:
      np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def test_dataset_info(prepared):
  config = tiny_config(prepared[0])
  info = pipeline.dataset_info(config)
  assert info.num_examples == {"train": len(GOOD_VIDEOS),
                               "val": len(VAL_VIDEOS)}
  assert info.class_names == ("a", "b", "c") and info.num_classes == 3
  assert info.fps == 30.0 and info.short_side == 32
  assert pipeline.dataset_info(config.data, "val").num_examples == {
      "val": len(VAL_VIDEOS)}


def test_train_batches(prepared):
  config = tiny_config(prepared[0])
  batches = _batches(pipeline.make_train_dataset(config), 6)
  labels = []
  for batch in batches:
    assert batch["video"].dtype == np.uint8
    assert batch["video"].shape == (4, 8, 28, 28, 3)
    assert batch["label"].dtype == np.int32 and batch["label"].shape == (4,)
    assert batch["video"].std() > 5  # Real pixels, not padding.
    labels += batch["label"].tolist()
  # 24 clips = 4 epochs of the 6 training videos: each label as often as
  # the split has it.
  expected = collections.Counter("abc".index(spec[4])
                                 for spec in GOOD_VIDEOS.values())
  assert collections.Counter(labels) == {k: 4 * v for k, v in
                                         expected.items()}


def test_same_seed_same_batches_other_seed_other_batches(prepared):
  config = tiny_config(prepared[0])
  first = _batches(pipeline.make_train_dataset(config), 3)
  again = _batches(pipeline.make_train_dataset(config), 3)
  _assert_same_batches(first, again)
  other = _batches(pipeline.make_train_dataset(config, seed=1), 3)
  assert not all(np.array_equal(a["video"], b["video"])
                 for a, b in zip(first, other))


@pytest.mark.parametrize("start_step", [1, 2, 4])
def test_resuming_gives_the_uninterrupted_batches(prepared, start_step):
  # 6 videos, batch 4: steps straddle epoch boundaries.
  config = tiny_config(prepared[0])
  uninterrupted = _batches(pipeline.make_train_dataset(config), 6)
  resumed = _batches(
      pipeline.make_train_dataset(config, start_step=start_step),
      6 - start_step)
  _assert_same_batches(resumed, uninterrupted[start_step:])


def test_two_hosts_train_batches(prepared):
  config = tiny_config(prepared[0])
  hosts = [_batches(pipeline.make_train_dataset(
      config, process_index=i, process_count=2), 3) for i in range(2)]
  for batches in hosts:
    assert all(b["video"].shape == (2, 8, 28, 28, 3) for b in batches)
  assert not np.array_equal(hosts[0][0]["video"], hosts[1][0]["video"])


def _eval_views(config, process_count, **kwargs):
  """{(video_index, view_index): (video, label, video_id)} over all hosts,
  and each host's batch count."""
  seen = {}
  batch_counts = []
  for host in range(process_count):
    batches = list(pipeline.make_eval_dataset(
        config, "val", process_index=host, process_count=process_count,
        **kwargs).as_numpy_iterator())
    batch_counts.append(len(batches))
    for batch in batches:
      for i in np.flatnonzero(batch["mask"]):
        key = (int(batch["video_index"][i]), int(batch["view_index"][i]))
        assert key not in seen, f"{key} seen twice"
        seen[key] = (batch["video"][i], int(batch["label"][i]),
                     batch["video_id"][i].decode())
      padding = ~batch["mask"]
      assert (batch["video_index"][padding] == -1).all()
      assert (batch["video_id"][padding] == b"").all()
      assert (batch["video"][padding] == 0).all()
  return seen, batch_counts


def test_two_hosts_cover_every_eval_view_exactly_once(prepared):
  config = tiny_config(prepared[0])
  kwargs = dict(num_clips=2, num_crops=3, batch_size=4)
  seen, counts = _eval_views(config, 2, **kwargs)
  num_videos = len(VAL_VIDEOS)
  assert set(seen) == {(v, k) for v in range(num_videos) for k in range(6)}
  # 5 videos: hosts hold 3 and 2, 18 and 12 views, 9 batches of 2 each.
  assert counts == [9, 9] == [pipeline.num_eval_batches(
      num_videos, process_count=2, **kwargs)] * 2
  single, single_counts = _eval_views(config, 1, **kwargs)
  assert single_counts == [8]  # 30 views, batch 4, last one padded.
  for key, (video, label, video_id) in single.items():
    assert seen[key][1:] == (label, video_id)
    np.testing.assert_array_equal(seen[key][0], video)
  # Every view of a video carries its id; the ids are the split's videos.
  ids = {v: {seen[(v, k)][2] for k in range(6)} for v in range(num_videos)}
  assert all(len(i) == 1 for i in ids.values())
  assert {i.pop() for i in ids.values()} == set(VAL_VIDEOS)
  for video, _, _ in single.values():
    assert video.shape == (8, 32, 32, 3) and video.dtype == np.uint8


def test_more_hosts_than_videos(prepared):
  config = tiny_config(prepared[0])
  seen, counts = _eval_views(config, 8, num_clips=1, num_crops=3,
                             batch_size=8)
  assert len(seen) == 3 * len(VAL_VIDEOS)
  assert len(set(counts)) == 1


def test_eval_views_equal_predict_on_decoded_frames(prepared):
  # The raw-video path (decode.multi_view_clips) runs the same functions as
  # the eval pipeline: on the dataset's own frames the views are identical.
  config = tiny_config(prepared[0])
  seen, _ = _eval_views(config, 1, num_clips=3, num_crops=3, batch_size=4)
  builder = tfds.builder("tiny", data_dir=prepared[0])
  examples = builder.as_dataset(split="val", shuffle_files=False)
  for video_index, example in enumerate(examples.as_numpy_iterator()):
    views = decode.multi_view_clips_for_config(
        builder_lib.read_video(builder, example), config, num_clips=3,
        num_crops=3)
    assert views.shape == (9, 8, 32, 32, 3)
    for view_index in range(9):
      video, label, video_id = seen[(video_index, view_index)]
      assert label == example["label"]
      assert video_id == example["video_id"].decode()
      np.testing.assert_array_equal(video, views[view_index])


def test_single_view_validation(prepared):
  config = tiny_config(prepared[0])
  kwargs = dict(num_clips=1, num_crops=1, batch_size=4)
  # Default (release): one random train-style view per video, train crop.
  random_a = list(pipeline.make_eval_dataset(config, "val", **kwargs)
                  .as_numpy_iterator())
  random_b = list(pipeline.make_eval_dataset(config, "val", **kwargs)
                  .as_numpy_iterator())
  _assert_same_batches(random_a, random_b)  # Deterministic per seed.
  assert random_a[0]["video"].shape == (4, 8, 28, 28, 3)
  assert sum(int(b["mask"].sum()) for b in random_a) == len(VAL_VIDEOS)
  # Deterministic test-style view: first window, centre crop.
  config.data.val_view = "center"
  center, _ = _eval_views(config, 1, **kwargs)
  builder = tfds.builder("tiny", data_dir=prepared[0])
  first = next(builder.as_dataset(split="val", shuffle_files=False)
               .as_numpy_iterator())
  expected = decode.multi_view_clips_for_config(
      builder_lib.read_video(builder, first), config, num_clips=1,
      num_crops=1)
  np.testing.assert_array_equal(center[(0, 0)][0], expected[0])
