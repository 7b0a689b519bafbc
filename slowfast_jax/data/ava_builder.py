"""The prepared AVA dataset: one example per keyframe (TFDS layout).

  DATA_DIR/NAME/1.0.0/
    NAME-SPLIT.tfrecord-0000k-of-0000n   one shard per movie
    dataset_info.json, features.json, metadata.json
    skipped_keyframes.tsv                what prepare could not write
    label_map.pbtxt, excluded_timestamps.csv, SPLIT_groundtruth.csv
                                         copies of the evaluation files

Each example is one keyframe: `video` (JPEG frames `window` frames around
the keyframe at 30 fps, clipped at the movie's ends), `key_index` (where the
keyframe is in `video`), `video_id`, `timestamp` (the second), `boxes`
`(boxes, 4)` normalised x1, y1, x2, y2 as in the AVA files, and the labels as
pairs (`label_box`: box index, `label_id`: 1-based action id). `metadata`
records `fps`, `short_side`, `window`, the valid `seconds`, the box files and
score threshold per split, and per split `max_boxes` and `frame_sizes`: per
shard (movie), the `[height, width]` sizes of its stored frames, and
`timestamps`: per shard, the seconds of its examples in order.
"""

import os

import tensorflow as tf
import tensorflow_datasets as tfds

from slowfast_jax.data import builder

REPORT_NAME = "skipped_keyframes.tsv"


def features() -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict({
      "video": tfds.features.Video(shape=(None, None, None, 3),
                                   encoding_format="jpeg"),
      "key_index": tfds.features.Scalar(dtype=tf.int64),
      "video_id": tfds.features.Text(),
      "timestamp": tfds.features.Scalar(dtype=tf.int64),
      "boxes": tfds.features.Tensor(shape=(None, 4), dtype=tf.float32),
      "label_box": tfds.features.Tensor(shape=(None,), dtype=tf.int64),
      "label_id": tfds.features.Tensor(shape=(None,), dtype=tf.int64),
  })


def write_metadata(directory, name: str, shard_lengths: dict[str, list[int]],
                   num_bytes: dict[str, int], metadata: dict) -> None:
  """dataset_info.json & co. for shards already on disk."""
  split_infos = [
      tfds.core.SplitInfo(
          name=split, shard_lengths=lengths, num_bytes=num_bytes[split],
          filename_template=builder.file_template(directory, name, split))
      for split, lengths in shard_lengths.items()
  ]
  tfds.folder_dataset.write_metadata(
      data_dir=directory, features=features(), split_infos=split_infos,
      filename_template=builder.FILE_TEMPLATE, check_data=False,
      description="AVA keyframes prepared by slowfast_jax.data.ava_prepare.",
      metadata=tfds.core.MetadataDict(**metadata))


def load(data_dir, name: str) -> tfds.core.DatasetBuilder:
  """The prepared dataset `data_dir/name/1.0.0` (FileNotFoundError if not)."""
  directory = builder.version_dir(data_dir, name)
  if not builder.is_complete(directory):
    raise FileNotFoundError(
        f"No prepared AVA dataset {name!r} in {data_dir} (expected "
        f"{directory}/dataset_info.json); run `python -m "
        "slowfast_jax.data.ava_prepare` first")
  return tfds.builder_from_directory(directory)


def evaluation_file(data_dir, name: str, kind: str, split: str = "") -> str:
  """Path of a copied evaluation file: "label_map", "excluded" or
  "groundtruth" (of `split`)."""
  files = {"label_map": "label_map.pbtxt",
           "excluded": "excluded_timestamps.csv",
           "groundtruth": f"{split}_groundtruth.csv"}
  return os.path.join(builder.version_dir(data_dir, name), files[kind])
