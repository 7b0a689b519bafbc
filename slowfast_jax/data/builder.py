"""The on-disk TFDS dataset of pre-decoded clips: features, shards, metadata.

Layout (a standard TFDS dataset directory, readable with
`tfds.builder_from_directory(DATA_DIR/NAME/1.0.0)` or
`tfds.builder(NAME, data_dir=DATA_DIR)` when NAME is not a TFDS catalog name):

  DATA_DIR/NAME/1.0.0/
    NAME-SPLIT.tfrecord-0000k-of-0000n   examples (tf.train.Example)
    frames-SPLIT-0000k-of-0000n.chunks   their frames (`frame_store`)
    dataset_info.json, features.json, label.labels.txt, metadata.json
    skipped_videos.tsv                   videos prepare could not decode

Each example: `label` (ClassLabel), `video_id` (the list's path) and where
its frames are (`frame_features`: `num_frames`, `frames_file`,
`chunk_offsets`); the frames, one JPEG each at the dataset's frame rate, are
chunks in the shard's frames file (`frame_store`).
`metadata.json` records `fps`, `short_side` and `chunk_frames`.

A multi-label dataset (Charades, `slowfast_jax.data.charades_prepare`) has
`labels` (a sequence of ClassLabel: the video's classes) instead of `label`,
and its actions as time spans (`multi_label_features`).
"""

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

VERSION = "1.0.0"
FILE_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"


def frame_features() -> dict[str, tfds.features.FeatureConnector]:
  """Where a video's frames are: its frame count, frames file and its
  chunks' byte offsets there (`frame_store`)."""
  return {
      "num_frames": tfds.features.Scalar(dtype=np.int64),
      "frames_file": tfds.features.Text(),
      "chunk_offsets": tfds.features.Tensor(shape=(None,), dtype=np.int64),
  }


def features(class_names) -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict({
      **frame_features(),
      "label": tfds.features.ClassLabel(names=list(class_names)),
      "video_id": tfds.features.Text(),
  })


def multi_label_features(class_names) -> tfds.features.FeaturesDict:
  """A multi-label video: its classes and its actions' time spans.

  `labels`: the video's classes (those of its actions that cover a stored
  frame). Per action (parallel lists, in the annotation's order, those
  covering no stored frame left out): `action_class`, `action_start` and
  `action_end` (seconds, as annotated), `action_first_frame` and
  `action_last_frame` (the stored frames it covers, both included).
  """
  seconds = lambda: tfds.features.Tensor(shape=(None,), dtype=np.float32)
  frames = lambda: tfds.features.Tensor(shape=(None,), dtype=np.int64)
  return tfds.features.FeaturesDict({
      **frame_features(),
      "labels": tfds.features.Sequence(
          tfds.features.ClassLabel(names=list(class_names))),
      "action_class": frames(),
      "action_start": seconds(),
      "action_end": seconds(),
      "action_first_frame": frames(),
      "action_last_frame": frames(),
      "video_id": tfds.features.Text(),
  })


def class_names_of(features) -> tuple[str, ...]:
  """The class names of a prepared dataset's features (either layout)."""
  if "labels" in features:
    return tuple(features["labels"].feature.names)
  return tuple(features["label"].names)


def is_multi_label(features) -> bool:
  return "labels" in features


def version_dir(data_dir, name: str) -> str:
  return os.path.join(os.fspath(data_dir), name, VERSION)


def file_template(directory, name: str, split: str):
  return tfds.core.ShardedFileTemplate(
      data_dir=directory, template=FILE_TEMPLATE, dataset_name=name,
      split=split, filetype_suffix="tfrecord")


def shard_paths(directory, name: str, split: str,
                num_shards: int) -> list[str]:
  return [os.fspath(p) for p in
          file_template(directory, name, split).sharded_filepaths(num_shards)]


def write_records(path: str, records) -> int:
  """Writes serialized examples to `path` atomically; returns bytes written."""
  tmp = f"{path}.tmp-{os.getpid()}"
  with tf.io.TFRecordWriter(tmp) as writer:
    for record in records:
      writer.write(record)
  os.replace(tmp, path)
  return os.path.getsize(path)


def write_metadata(directory, name: str, class_names,
                   shard_lengths: dict[str, list[int]],
                   num_bytes: dict[str, int], *, fps: float, short_side: int,
                   description: str, feature_spec=None, **metadata) -> None:
  """Writes dataset_info.json & co. for shards already on disk.

  `feature_spec` defaults to `features(class_names)` (one class per video);
  `metadata` (e.g. `chunk_frames`) goes to metadata.json with `fps` and
  `short_side`.
  """
  split_infos = [
      tfds.core.SplitInfo(name=split, shard_lengths=lengths,
                          num_bytes=num_bytes[split],
                          filename_template=file_template(directory, name,
                                                          split))
      for split, lengths in shard_lengths.items()
  ]
  tfds.folder_dataset.write_metadata(
      data_dir=directory,
      features=(features(class_names) if feature_spec is None
                else feature_spec),
      split_infos=split_infos, filename_template=FILE_TEMPLATE,
      check_data=False, description=description,
      metadata=tfds.core.MetadataDict(fps=float(fps),
                                      short_side=int(short_side or 0),
                                      **metadata))


def is_complete(directory) -> bool:
  return os.path.exists(os.path.join(os.fspath(directory),
                                     "dataset_info.json"))


def load(data_dir, name: str) -> tfds.core.DatasetBuilder:
  """The prepared dataset `data_dir/name/<version>` as a TFDS builder.

  Reads the directory directly (never the TFDS catalog, where e.g. `ucf101`
  names a different dataset).
  """
  directory = version_dir(data_dir, name)
  if not is_complete(directory):
    raise FileNotFoundError(
        f"No prepared dataset {name!r} in {data_dir} (expected "
        f"{directory}/dataset_info.json); run `python -m "
        "slowfast_jax.data.prepare` first")
  problem = layout_problem(directory)
  if problem:
    raise ValueError(problem)
  return tfds.builder_from_directory(directory)


def layout_problem(directory) -> str | None:
  """What is wrong with a complete dataset's layout, in one line, or None."""
  if not is_complete(directory) or has_frame_store(directory):
    return None
  return (f"{os.fspath(directory)} was prepared by an earlier slowfast_jax in "
          "another layout; prepare it again with --overwrite (docs/data.md)")


def data_bytes(directory) -> int:
  """Bytes of a prepared dataset's examples and frames files."""
  from slowfast_jax.data import frame_store  # pylint: disable=g-import-not-at-top
  directory = os.fspath(directory)
  return sum(os.path.getsize(os.path.join(directory, f))
             for f in os.listdir(directory)
             if ".tfrecord-" in f or f.endswith(frame_store.SUFFIX))


def has_frame_store(directory) -> bool:
  """Whether a complete dataset keeps its frames in a `frame_store`: the
  chunk size in metadata.json and each example's `chunk_offsets`."""
  directory = os.fspath(directory)
  path = os.path.join(directory, "metadata.json")
  if not os.path.exists(path):
    return False
  with open(path) as f:
    if "chunk_frames" not in json.load(f):
      return False
  return "chunk_offsets" in tfds.features.FeatureConnector.from_config(
      directory).keys()


def split_sizes(directory) -> dict[str, int]:
  """Examples in each split of the complete dataset in `directory`."""
  info = tfds.builder_from_directory(os.fspath(directory)).info
  return {name: split.num_examples for name, split in info.splits.items()}


def chunk_frames(builder) -> int:
  """Frames per record of the dataset's frame store (metadata)."""
  return int(builder.info.metadata["chunk_frames"])


def read_video(builder, example) -> np.ndarray:
  """All frames of one of `builder`'s examples (numpy, e.g. from
  `builder.as_dataset(...).as_numpy_iterator()`), uint8
  `(time, height, width, 3)`."""
  from slowfast_jax.data import frame_store  # pylint: disable=g-import-not-at-top
  return frame_store.read_video(builder.data_dir, example)


def stored_fps(builder) -> float:
  """Frame rate the frames were stored at (metadata `fps`)."""
  metadata = builder.info.metadata or {}
  return float(metadata.get("fps", 30.0))
