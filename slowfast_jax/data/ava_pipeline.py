"""tf.data pipelines over prepared AVA keyframes: clips, boxes, labels.

A clip takes the release's frames around its keyframe: `range(key - half,
key + half, sampling_rate)` with `half = num_frames * sampling_rate // 2`,
clamped to the movie (`ava_dataset.__getitem__`, `utils.get_sequence`).
Boxes and labels are the prepared keyframe's (the box files and score
threshold were applied by `ava_prepare`); `ava_transforms` moves the boxes
with the pixels. Every clip's boxes are padded to `max_boxes` slots
(`config.data.max_boxes`, or the split's largest count when 0) with a mask,
so batches have static shapes.

Train (`make_train_dataset`): the host's part of the split
(`tfds.split_for_jax_process`), shuffled and repeated; example k of the
host's stream draws scale, crop and flip from the stateless seed (seed,
host, k).

Eval (`make_eval_dataset`): every keyframe once, the whole frame at short
side `data.test_crop_size` (the release's test mode). Movies are grouped by
frame size so that a batch has one size; each host takes a contiguous share
of every group and pads it with masked rows, so all hosts yield the same
batches' sizes in the same order.
"""

import functools
import math
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from slowfast_jax import class_names
from slowfast_jax import validate
from slowfast_jax.data import ava_builder
from slowfast_jax.data import ava_transforms
from slowfast_jax.data import decode
from slowfast_jax.data import pipeline
from slowfast_jax.data import views

AUTOTUNE = tf.data.AUTOTUNE


@functools.lru_cache(maxsize=8)
def _load(data_dir: str, name: str):
  return ava_builder.load(data_dir, name)


def _builder_and_metadata(config, split: str):
  data = config.data
  if not data.data_dir:
    raise ValueError("config.data.data_dir is not set")
  builder = _load(str(data.data_dir), data.name)
  metadata = dict(builder.info.metadata or {})
  validate.validate_ava_dataset(config, metadata, split)
  return builder, metadata


def dataset_info(config, split: str | None = None) -> pipeline.DatasetInfo:
  """Keyframes per split and class names of the prepared AVA dataset.

  Class `i` (logit column) is action id `i + 1`, up to the label map's
  largest id (`class_names.read_labels_file`: ids the label map lacks, as
  20 of AVA v2.2's 80, are named `action ID`).
  """
  data = config.data
  if not data.data_dir:
    raise ValueError("config.data.data_dir is not set")
  builder = _load(str(data.data_dir), data.name)
  names = tuple(class_names.read_labels_file(ava_builder.evaluation_file(
      data.data_dir, data.name, "label_map")))
  metadata = builder.info.metadata or {}
  return pipeline.builder_info(builder, data.name, split=split,
                               class_names=names,
                               fps=float(metadata.get("fps", 30)))


def frame_offsets(num_frames: int, sampling_rate: int) -> np.ndarray:
  """Offsets from the keyframe of the clip's frames (release get_sequence)."""
  half = num_frames * sampling_rate // 2
  return np.arange(-half, half, sampling_rate, dtype=np.int32)


def max_boxes(config, metadata, split: str) -> int:
  """Box slots per clip: `data.max_boxes`, or the split's maximum if 0."""
  return int(config.data.max_boxes or metadata["max_boxes"][split])


def _parse(features):
  """Decoded example -> frames source, boxes, multi-hot label inputs."""
  return (views.jpeg_source(features["video"]), features["boxes"],
          features["label_box"], features["label_id"])


def _clip_frames(source, key_index, offsets):
  indices = tf.clip_by_value(tf.cast(key_index, tf.int32) + offsets, 0,
                             source.length - 1)
  unique, position = tf.unique(indices)
  return tf.gather(source.fetch(unique), position)


def _multi_hot(label_box, label_id, num_boxes, num_classes: int):
  tf.debugging.assert_less_equal(
      label_id, tf.constant(num_classes, tf.int64),
      message=f"an action id exceeds config.model.num_classes={num_classes}")
  indices = tf.stack([label_box, label_id - 1], axis=1)
  return tf.scatter_nd(indices, tf.ones_like(label_box, tf.int32),
                       tf.stack([tf.cast(num_boxes, tf.int64),
                                 tf.constant(num_classes, tf.int64)]))


def _pad(values, slots: int):
  """`(n, ...)` -> `(slots, ...)` zero-padded, and the `(slots,)` mask."""
  n = tf.shape(values)[0]
  padding = [[0, slots - n]] + [[0, 0]] * (len(values.shape) - 1)
  return tf.pad(values, padding), tf.range(slots) < n


def _read_shuffled(builder, split: str, seed: int):
  """`split`'s examples, files shuffled, JPEG frames left encoded."""
  return builder.as_dataset(
      split=split, shuffle_files=True,
      read_config=tfds.ReadConfig(shuffle_seed=seed,
                                  interleave_cycle_length=16),
      decoders={"video": tfds.decode.SkipDecoding()})


def make_train_dataset(config, *, process_index: int = 0,
                       process_count: int = 1, seed: int | None = None,
                       start_step: int = 0) -> tf.data.Dataset:
  """Endless host-local training batches.

  Returns:
    `{"video": uint8 (batch, time, crop, crop, 3), "boxes": float32 (batch,
    max_boxes, 4) x1, y1, x2, y2 in clip pixels, "box_mask": bool (batch,
    max_boxes), "labels": int32 (batch, max_boxes, num_classes)}` with
    batch = global_batch_size // process_count, crop =
    `data.train_crop_size`, labels multi-hot by action id - 1.
  """
  data = config.data
  batch_size = pipeline.host_batch_size(config.global_batch_size,
                                        process_count)
  seed = config.seed if seed is None else seed
  builder, metadata = _builder_and_metadata(config, data.train_split)
  slots = max_boxes(config, metadata, data.train_split)
  offsets = frame_offsets(config.model.num_frames, data.sampling_rate)
  host_split = tfds.split_for_jax_process(
      data.train_split, process_index=process_index,
      process_count=process_count)
  host_seed = tf.constant([seed, process_index], tf.int64)
  records = _read_shuffled(builder, host_split,
                           seed + 7919 * process_index).repeat()
  records = records.shuffle(max(1, int(data.shuffle_buffer)), seed=seed)
  first = start_step * batch_size
  examples = tf.data.Dataset.zip(tf.data.Dataset.counter(first),
                                 records.skip(first))
  num_classes = config.model.num_classes

  def make_clip(index, features):
    source, boxes, label_box, label_id = _parse(features)
    clip = _clip_frames(source, features["key_index"], offsets)
    shape = tf.shape(clip)
    pixels = ava_transforms.to_pixels(boxes, shape[1], shape[2])
    clip, pixels = ava_transforms.train_clip(
        clip, pixels, jitter_scales=tuple(data.train_jitter_scales),
        crop_size=data.train_crop_size, flip=bool(data.random_flip),
        seed=tf.random.experimental.stateless_fold_in(host_seed, index))
    labels = _multi_hot(label_box, label_id, tf.shape(boxes)[0], num_classes)
    pixels, mask = _pad(pixels, slots)
    labels, _ = _pad(labels, slots)
    return {"video": tf.ensure_shape(clip, [len(offsets), None, None, 3]),
            "boxes": tf.ensure_shape(pixels, [slots, 4]), "box_mask": mask,
            "labels": tf.ensure_shape(labels, [slots, num_classes])}

  ds = examples.map(make_clip, num_parallel_calls=AUTOTUNE, deterministic=True)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.prefetch(AUTOTUNE).with_options(pipeline.dataset_options())


MODES = ("test", "val")


def _groups(builder, metadata, split: str, mode: str) -> list[list[int]]:
  """Shards (movies) of `split` grouped by frame size, groups by size (one
  group in "val" mode, where every clip is a square crop)."""
  by_size = {}
  lengths = builder.info.splits[split].shard_lengths
  for shard, sizes in enumerate(metadata["frame_sizes"][split]):
    if lengths[shard]:
      key = tuple(sizes[0]) if mode == "test" else ()
      by_size.setdefault(key, []).append(shard)
  return [by_size[size] for size in sorted(by_size)]


def _rows(config, metadata, split: str, mode: str, group) -> list:
  """`(shard, position)` of the keyframes a group evaluates, in order.

  "val" keeps the seconds divisible by 4 unless `data.full_test_on_val`
  (release: `boxes_sample_rate` of its "val" mode).
  """
  every = 4 if mode == "val" and not config.data.full_test_on_val else 1
  return [(shard, j) for shard in group
          for j, second in enumerate(metadata["timestamps"][split][shard])
          if second % every == 0]


def _host_part(count: int, process_index: int, process_count: int):
  """`[begin, end)` of host `process_index`'s contiguous share of `count`
  (the first `count % process_count` hosts get one more, as
  `tfds.even_splits`, which takes split names, not a frame-size group's
  rows)."""
  base, extra = divmod(count, process_count)
  begin = process_index * base + min(process_index, extra)
  return begin, begin + base + (process_index < extra)


def num_eval_batches(config, split: str, *, batch_size: int,
                     process_count: int = 1, mode: str = "test") -> int:
  """Batches every host yields from `make_eval_dataset`."""
  builder, metadata = _builder_and_metadata(config, split)
  host_batch = pipeline.host_batch_size(batch_size, process_count)
  return sum(
      math.ceil(math.ceil(len(_rows(config, metadata, split, mode, group)) /
                          process_count) / host_batch)
      for group in _groups(builder, metadata, split, mode))


def _padding_row(frames: int, size, slots: int,
                 num_classes: int) -> tf.data.Dataset:
  """One masked-out eval row of the group's shapes (index -1, mask False)."""
  return tf.data.Dataset.from_tensors({
      "video": tf.zeros([frames, *size, 3], tf.uint8),
      "boxes": tf.zeros([slots, 4]), "box_mask": tf.zeros([slots], tf.bool),
      "labels": tf.zeros([slots, num_classes], tf.int32),
      "normalised_boxes": tf.zeros([slots, 4]),
      "keyframe_index": tf.constant(-1), "video_id": tf.constant(""),
      "timestamp": tf.constant(-1), "mask": tf.constant(False),
  })


def _wanted_records(info, wanted_rows, firsts) -> tf.data.Dataset:
  """`(position in the split, serialized example)` of `wanted_rows`.

  `wanted_rows` are `(shard, index in shard)` in order; each shard is read
  from its first to its last wanted record and the others are dropped.
  """
  wanted = set(wanted_rows)
  spans = {}  # shard -> [first, last]
  for shard, j in wanted_rows:
    spans.setdefault(shard, [j, j])[1] = j
  files = tf.data.Dataset.from_tensor_slices((
      [os.fspath(info.filepaths[shard]) for shard in spans],
      tf.constant([first for first, _ in spans.values()], tf.int64),
      tf.constant([last - first + 1 for first, last in spans.values()],
                  tf.int64)))
  records = files.flat_map(lambda f, skip, take: tf.data.TFRecordDataset(
      f).skip(skip).take(take))
  read = [(shard, j) for shard, (first, last) in spans.items()
          for j in range(first, last + 1)]
  tags = tf.data.Dataset.from_tensor_slices((
      tf.constant([int(firsts[s] + j) for s, j in read], tf.int32),
      tf.constant([(s, j) in wanted for s, j in read])))
  return tf.data.Dataset.zip(tags, records).filter(
      lambda tag, _: tag[1]).map(lambda tag, record: (tag[0], record))


def _eval_clip_fn(features, offsets, *, mode: str, short_side: int,
                  slots: int, num_classes: int):
  """`make_clip(position, serialized, size)`: one row of `make_eval_dataset`."""
  decoders = {"video": tfds.decode.SkipDecoding()}

  def make_clip(index, serialized, size):
    example = features.deserialize_example(serialized, decoders=decoders)
    source, boxes, label_box, label_id = _parse(example)
    clip = _clip_frames(source, example["key_index"], offsets)
    shape = tf.shape(clip)
    pixels = ava_transforms.to_pixels(boxes, shape[1], shape[2])
    if mode == "test":
      clip, pixels = ava_transforms.test_clip(clip, pixels,
                                              short_side=short_side)
    else:
      clip, pixels = ava_transforms.val_clip(clip, pixels, size=short_side)
    labels = _multi_hot(label_box, label_id, tf.shape(boxes)[0], num_classes)
    pixels, mask = _pad(pixels, slots)
    labels, _ = _pad(labels, slots)
    normalised, _ = _pad(boxes, slots)
    return {
        "video": tf.ensure_shape(clip, [len(offsets), *size, 3]),
        "boxes": tf.ensure_shape(pixels, [slots, 4]), "box_mask": mask,
        "labels": tf.ensure_shape(labels, [slots, num_classes]),
        "normalised_boxes": tf.ensure_shape(normalised, [slots, 4]),
        "keyframe_index": tf.cast(index, tf.int32),
        "video_id": example["video_id"],
        "timestamp": tf.cast(example["timestamp"], tf.int32),
        "mask": tf.constant(True),
    }

  return make_clip


def make_eval_dataset(config, split: str, *, batch_size: int,
                      process_index: int = 0, process_count: int = 1,
                      mode: str = "test") -> tf.data.Dataset:
  """Finite host-local batches with every keyframe of `split` exactly once.

  `mode` "test" is the release's test: every keyframe, the whole frame.
  "val" is its validation during training: the seconds divisible by 4
  (all with `data.full_test_on_val`), the centre `test_crop_size` square.

  Movies are grouped by frame size and every batch holds one size, so each
  clip is the release's whole frame with nothing added. Every host takes a
  contiguous share of each group and pads it with masked rows to the same
  number of batches, so all hosts see the same sizes in the same order.
  `num_eval_batches` says how many.

  Returns:
    `{"video": uint8 (batch, time, height, width, 3)` (the frames at short
    side `data.test_crop_size`; height and width are static when the split
    has one frame size), `"boxes"`, `"box_mask"`, `"labels"` as in training
    (boxes in pixels of the scaled frame), `"normalised_boxes"`: float32
    (batch, max_boxes, 4) as in the box file (the release's `ori_boxes`),
    `"keyframe_index"`: int32 position in the split, `"video_id"`: string,
    `"timestamp"`: int32, `"mask"`: bool (batch,)}`. Padding rows have mask
    False, index -1 and nothing else set.
  """
  if mode not in MODES:
    raise ValueError(f"mode={mode!r}; expected one of {MODES}")
  data = config.data
  builder, metadata = _builder_and_metadata(config, split)
  host_batch = pipeline.host_batch_size(batch_size, process_count)
  slots = max_boxes(config, metadata, split)
  short_side = int(data.test_crop_size)
  offsets = frame_offsets(config.model.num_frames, data.sampling_rate)
  num_classes = config.model.num_classes
  info = builder.info.splits[split]
  # Position in the split of each shard's first example.
  firsts = np.cumsum([0] + list(info.shard_lengths))
  make_clip = _eval_clip_fn(builder.info.features, offsets, mode=mode,
                            short_side=short_side, slots=slots,
                            num_classes=num_classes)

  datasets = []
  for group in _groups(builder, metadata, split, mode):
    height, width = metadata["frame_sizes"][split][group[0]][0]
    size = (decode.resized_shape(height, width, short_side) if mode == "test"
            else (short_side, short_side))
    rows = _rows(config, metadata, split, mode, group)
    begin, end = _host_part(len(rows), process_index, process_count)
    mine = rows[begin:end]
    padding = _padding_row(len(offsets), size, slots, num_classes)
    clips = padding.take(0)
    if mine:
      clips = _wanted_records(info, mine, firsts).map(
          lambda position, record: make_clip(position, record, size),
          num_parallel_calls=AUTOTUNE, deterministic=True)
    per_host = math.ceil(len(rows) / process_count)
    num_rows = math.ceil(per_host / host_batch) * host_batch
    clips = clips.concatenate(padding.repeat(num_rows - len(mine)))
    datasets.append(clips.batch(host_batch, drop_remainder=True))
  ds = datasets[0]
  for more in datasets[1:]:
    ds = ds.concatenate(more)
  return ds.prefetch(AUTOTUNE).with_options(pipeline.dataset_options())
