"""Frames in chunks (`frame_store`): a clip reads only its chunks; prepare in
parts; datasets of earlier layouts."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from data_fixtures import prepared  # pylint: disable=unused-import
from data_fixtures import tiny_config
from data_fixtures import video_tree  # pylint: disable=unused-import
from slowfast_jax import validate
from slowfast_jax.data import builder
from slowfast_jax.data import frame_store
from slowfast_jax.data import pipeline
from slowfast_jax.data import prepare


def _examples(data_dir, split):
  ds_builder = tfds.builder("tiny", data_dir=data_dir)
  return ds_builder, list(ds_builder.as_dataset(
      split=split, shuffle_files=False).as_numpy_iterator())


def test_frame_source_fetches_frames_across_chunks(prepared):
  ds_builder, examples = _examples(prepared[0], "train")
  chunk = builder.chunk_frames(ds_builder)
  longest = max(examples, key=lambda e: e["num_frames"])
  assert longest["num_frames"] > 2 * chunk  # Several chunks to cross.
  whole = builder.read_video(ds_builder, longest)
  assert len(whole) == longest["num_frames"]
  source = frame_store.frame_source(
      ds_builder.data_dir, {k: tf.constant(v) for k, v in longest.items()},
      chunk)
  assert int(source.length) == len(whole)
  rng = np.random.default_rng(0)
  for indices in ([0], [chunk - 1, chunk], [len(whole) - 1, 3, chunk + 2],
                  rng.integers(0, len(whole), 9)):
    np.testing.assert_array_equal(
        source.fetch(tf.constant(indices, tf.int32)).numpy(), whole[indices])


def test_a_training_clip_reads_only_the_chunks_of_its_frames(prepared,
                                                            monkeypatch):
  ds_builder, examples = _examples(prepared[0], "train")
  chunks = [-(-int(e["num_frames"]) // frame_store.CHUNK_FRAMES)
            for e in examples]
  read = []
  read_chunks = frame_store.read_chunks

  def counting(path, offsets):
    read.append(len(offsets) - 1)
    return read_chunks(path, offsets)

  monkeypatch.setattr(frame_store, "read_chunks", counting)
  config = tiny_config(prepared[0])  # Clips of 8 frames, 2 apart.
  for _ in pipeline.make_train_dataset(config).take(3):
    pass
  # A 16-frame window spans at most 2 chunks of 16 frames; most videos
  # have 3 or 4.
  assert builder.chunk_frames(ds_builder) == frame_store.CHUNK_FRAMES == 16
  assert sorted(chunks)[len(chunks) // 2] >= 3
  assert len(read) >= 12 and max(read) <= 2


def _files(directory):
  return sorted(f for f in os.listdir(directory)
                if ".tfrecord-" in f or f.endswith(frame_store.SUFFIX))


def test_parts_written_apart_make_the_one_run_dataset(prepared, video_tree,
                                                     tmp_path):
  root, lists = video_tree
  args = dict(name="tiny", video_dir=root, splits=lists,
              data_dir=str(tmp_path), fps=30, short_side=32, workers=0,
              videos_per_shard=2, progress=False, num_parts=2)
  first = prepare.prepare(part_index=1, **args)
  directory = builder.version_dir(tmp_path, "tiny")
  assert first.missing_shards > 0 and not builder.is_complete(directory)
  second = prepare.prepare(part_index=0, **args)
  assert second.missing_shards == 0 and builder.is_complete(directory)
  assert second.written == prepared[2].written
  assert len(second.skipped) == len(prepared[2].skipped)
  reference = builder.version_dir(prepared[0], "tiny")
  assert _files(directory) == _files(reference)
  for name in _files(reference):
    with open(os.path.join(reference, name), "rb") as a, open(
        os.path.join(directory, name), "rb") as b:
      assert a.read() == b.read(), name
  with pytest.raises(prepare.PrepareError, match="--part-index 2"):
    prepare.prepare(**{**args, "part_index": 2})


def _without_chunk_frames(directory):
  # The whole-video layout: no chunk size in metadata.json.
  metadata_path = os.path.join(directory, "metadata.json")
  with open(metadata_path) as f:
    metadata = json.load(f)
  del metadata["chunk_frames"]
  with open(metadata_path, "w") as f:
    json.dump(metadata, f)


def _with_first_record(directory):
  # The chunk-index layout: chunks found by `first_record`, not by
  # `chunk_offsets`.
  features_path = os.path.join(directory, "features.json")
  with open(features_path) as f:
    features = json.load(f)
  spec = features["featuresDict"]["features"]
  spec["first_record"] = spec.pop("chunk_offsets")
  with open(features_path, "w") as f:
    json.dump(features, f)


@pytest.mark.parametrize("earlier_layout",
                         [_without_chunk_frames, _with_first_record])
def test_a_dataset_of_an_earlier_layout_names_the_fix(prepared, video_tree,
                                                      tmp_path, earlier_layout):
  old = os.path.join(tmp_path, "tiny", builder.VERSION)
  shutil.copytree(builder.version_dir(prepared[0], "tiny"), old)
  earlier_layout(old)
  with pytest.raises(ValueError, match="prepare it again with --overwrite"):
    builder.load(tmp_path, "tiny")
  # train.py and eval.py check configs first, and print a ConfigError as one
  # line.
  with pytest.raises(validate.ConfigError,
                     match=f"{old} was prepared by an earlier slowfast_jax"):
    validate.validate_data(tiny_config(str(tmp_path)))
  # The fix: the same settings, with --overwrite.
  root, lists = video_tree
  prepare.prepare(name="tiny", video_dir=root, splits=lists,
                  data_dir=str(tmp_path), fps=30, short_side=32, workers=0,
                  videos_per_shard=2, progress=False, overwrite=True)
  builder.load(tmp_path, "tiny")
  assert _files(old) == _files(builder.version_dir(prepared[0], "tiny"))


def test_frames_are_read_through_gfile_from_any_filesystem(prepared):
  # `ram://` stands in for `gs://`: both are tf.io.gfile file systems, not
  # local files.
  ds_builder, examples = _examples(prepared[0], "val")
  example = examples[0]
  local = os.path.join(ds_builder.data_dir, example["frames_file"].decode())
  remote = f"ram://frames/{example['frames_file'].decode()}"
  tf.io.gfile.makedirs("ram://frames")
  tf.io.gfile.copy(local, remote, overwrite=True)
  offsets = example["chunk_offsets"][1:3]  # The second chunk alone.
  got = frame_store.read_chunks(remote, offsets)
  assert list(got) == list(frame_store.read_chunks(local, offsets))
  assert len(got) == 1 and len(got[0]) == offsets[1] - offsets[0]
