"""tf.data pipelines: prepared dataset -> host-local batches of uint8 clips.

Train (`make_train_dataset`): an endless, shuffled stream of release-style
training clips. Determinism and cheap resumption come from making every
random choice a function of (seed, host, position in the host's stream):

  * the host reads its slice of the split (`tfds.split_for_jax_process`);
  * epoch e reads the slice's shards in an order shuffled by (seed, host, e),
    interleaved deterministically, through a shuffle buffer seeded the same
    way;
  * example k of the host's stream (counting across epochs) draws its window,
    scale, crop and flip from a stateless seed (seed, host, k).

So the same seed gives the same batches, whatever the parallelism, and
starting at `start_step` jumps straight to epoch `start_step * batch //
examples_per_host` and skips the rest in serialized form: at most one epoch
of examples is read to resume, a few hundred bytes each (their frames are
apart, `frame_store`), and no frame.

Eval (`make_eval_dataset`): each host takes a contiguous slice of the split
and emits every view of every video in it exactly once, then pads with
masked views so all hosts yield the same number of full batches.

Normalization and the Slow/Fast split happen on device (`model_input`).
"""

import dataclasses
import functools
import math
from typing import Any

import ml_collections

import tensorflow as tf
import tensorflow_datasets as tfds

from slowfast_jax.data import builder as builder_lib
from slowfast_jax.data import flip_labels
from slowfast_jax.data import frame_store
from slowfast_jax.data import multi_label
from slowfast_jax.data import views

try:  # The input pipeline must never take accelerator memory.
  tf.config.set_visible_devices([], "GPU")
except RuntimeError:  # TF already initialized its devices; too late to hide.
  pass

AUTOTUNE = tf.data.AUTOTUNE
_EVAL_SEED_SALT = 0x5EED  # Random val views use a stream of their own.


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a prepared dataset holds."""
  name: str
  num_examples: dict[str, int]  # Per split.
  class_names: tuple[str, ...]
  fps: float  # Frame rate frames are stored at.
  short_side: int  # Stored short side (0: as the sources).

  @property
  def num_classes(self) -> int:
    return len(self.class_names)


def _data_config(config):
  return config.data if "data" in config else config


@functools.lru_cache(maxsize=8)
def _load_builder(data_dir: str, name: str):
  return builder_lib.load(data_dir, name)


def _builder(data_config):
  """The dataset's builder; its labels must be the config's kind."""
  if not data_config.data_dir:
    raise ValueError("config.data.data_dir is not set")
  builder = _load_builder(str(data_config.data_dir), data_config.name)
  is_multi = builder_lib.is_multi_label(builder.info.features)
  if is_multi != bool(data_config.get("multi_label", False)):
    kind = ("multi-label (several classes per video)" if is_multi
            else "single-label (one class per video)")
    raise ValueError(
        f"dataset {data_config.name!r} is {kind} but config.data.multi_label"
        f"={not is_multi}; use a config for it (multi-label: a charades_* "
        f"preset, docs/charades.md) or --config.data.multi_label={is_multi}")
  return builder


def dataset_info(config, split: str | None = None) -> DatasetInfo:
  """Split sizes and class names of the dataset `config.data` names.

  Args:
    config: full config (with `.data`) or its `data` section.
    split: if given, `num_examples` only has this split (KeyError if the
      dataset has no such split).
  """
  data = _data_config(config)
  builder = _builder(data)
  return builder_info(builder, data.name, split=split,
                      class_names=builder_lib.class_names_of(
                          builder.info.features),
                      fps=builder_lib.stored_fps(builder))


def builder_info(builder, name: str, *, split: str | None,
                 class_names: tuple[str, ...], fps: float) -> DatasetInfo:
  """A prepared builder's split sizes (only `split`'s, if given) and
  stored short side, with the caller's class names and frame rate."""
  sizes = {split_name: info.num_examples
           for split_name, info in builder.info.splits.items()}
  if split is not None:
    sizes = {split: sizes[split]}
  metadata = builder.info.metadata or {}
  return DatasetInfo(name=name, num_examples=sizes, class_names=class_names,
                     fps=fps, short_side=int(metadata.get("short_side", 0)))


def _host_split(builder, split: str, process_index: int, process_count: int):
  """This host's part of `split` (`tfds.even_splits`) and its first index.

  The first `num_examples % process_count` hosts get one extra example; the
  index is where the part starts in the whole split.
  """
  parts = tfds.even_splits(split, n=process_count)
  start = sum(builder.info.splits[part].num_examples
              for part in parts[:process_index])
  return parts[process_index], start


def host_batch_size(batch_size: int, process_count: int) -> int:
  """Rows each host feeds per batch (the one divisibility check of batches)."""
  if batch_size % process_count:
    raise ValueError(f"batch size {batch_size} is not divisible by the "
                     f"{process_count} hosts")
  return batch_size // process_count


def _file_instructions(builder, split):
  """`(filenames, skips, takes)` of a (sub)split's TFRecord files.

  Read by hand, not by `builder.as_dataset`: each epoch reshuffles the file
  order from (seed, host, epoch), and a resume skips records unparsed.
  """
  instructions = [fi for fi in builder.info.splits[split].file_instructions
                  if fi.take > 0]
  return ([fi.filename for fi in instructions],
          [fi.skip for fi in instructions], [fi.take for fi in instructions])


def _read_files(filenames, skips, takes, cycle_length: int):
  files = tf.data.Dataset.from_tensor_slices((filenames, skips, takes))
  return files.interleave(
      lambda f, skip, take: tf.data.TFRecordDataset(f).skip(skip).take(take),
      cycle_length=cycle_length, block_length=1, num_parallel_calls=AUTOTUNE,
      deterministic=True)


def _parser(builder):
  """`parse(serialized) -> (example, source)`: an example's fields (label,
  id and the place of its frames; a multi-label example: its
  `multi_label.PARSE_SPEC` fields for `label`) and its video as a
  `views.FrameSource` that reads only the chunks a clip needs."""
  spec = {
      "num_frames": tf.io.FixedLenFeature([], tf.int64),
      "frames_file": tf.io.FixedLenFeature([], tf.string),
      "chunk_offsets": tf.io.RaggedFeature(tf.int64),
      "video_id": tf.io.FixedLenFeature([], tf.string),
  }
  if builder_lib.is_multi_label(builder.info.features):
    spec.update(multi_label.PARSE_SPEC)
  else:
    spec["label"] = tf.io.FixedLenFeature([], tf.int64)
  chunk_frames = builder_lib.chunk_frames(builder)

  def parse(serialized):
    example = tf.io.parse_example(serialized[None], spec)
    example = {k: v.values if isinstance(v, tf.RaggedTensor) else v[0]
               for k, v in example.items()}
    return example, frame_store.frame_source(builder.data_dir, example,
                                             chunk_frames)

  return parse


def dataset_options() -> tf.data.Options:
  """The options of every input pipeline: deterministic, parallel maps."""
  options = tf.data.Options()
  options.deterministic = True
  options.experimental_optimization.map_parallelization = True
  return options


def make_train_dataset(config, *, process_index: int = 0,
                       process_count: int = 1, seed: int | None = None,
                       start_step: int = 0,
                       step_table=None) -> tf.data.Dataset:
  """Endless host-local training batches, resumable at `start_step`.

  Args:
    config: full config (`data`, `model.num_frames`, `global_batch_size`,
      `seed`).
    process_index, process_count: this host and the number of hosts.
    seed: overrides `config.seed`.
    start_step: first step to produce; batches equal those an uninterrupted
      run from step 0 produces from that step on.
    step_table: a multigrid `training.multigrid.StepTable`: then step s's
      batch has its phase's shape and the stream ends with the table
      (`multigrid_batches`).

  Returns:
    Batches `{"video": uint8 (batch, num_frames, crop, crop, 3),
    "label": int32 (batch,)}` with batch = global_batch_size //
    process_count and crop = `config.data.train_crop_size`; with
    `config.data.multi_label`, `label` is the clips' multi-hot int32
    `(batch, num_classes)` (`multi_label.clip_labels`).
  """
  batch_size = host_batch_size(config.global_batch_size, process_count)
  stream = train_stream(config, process_index=process_index,
                        process_count=process_count, seed=seed)
  if step_table is not None:
    from slowfast_jax.data import multigrid_batches  # pylint: disable=g-import-not-at-top
    return multigrid_batches.make_train_dataset(
        stream, step_table, start_step=start_step,
        process_count=process_count)
  examples = stream.examples(start_step * batch_size)
  make_clip = stream.clip_maker(num_frames=config.model.num_frames,
                                crop_size=config.data.train_crop_size)
  ds = examples.map(make_clip, num_parallel_calls=AUTOTUNE, deterministic=True)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.prefetch(AUTOTUNE).with_options(dataset_options())


@dataclasses.dataclass(frozen=True)
class TrainStream:
  """A host's endless stream of training examples and how to make clips.

  Attributes:
    config: the full config.
    builder: the prepared dataset's builder.
    files: `(filenames, skips, takes)` of the host's part of the split.
    host_seed: int64 `(2,)`, `(seed, host)`.
  """
  config: ml_collections.ConfigDict
  builder: Any
  files: tuple[list[str], list[int], list[int]]
  host_seed: tf.Tensor

  @property
  def examples_per_epoch(self) -> int:
    return sum(self.files[2])

  def examples(self, first_example: int) -> tf.data.Dataset:
    """`(k, serialized)` for k = `first_example`, ... of the host's stream.

    Epoch e reads the host's shards in an order shuffled by (seed, host, e)
    through a shuffle buffer seeded the same way; a later start skips
    records unparsed.
    """
    filenames, skips, takes = self.files
    first_epoch, offset = divmod(first_example, self.examples_per_epoch)
    cycle_length = min(len(filenames), 16)
    buffer_size = max(1, int(self.config.data.shuffle_buffer))
    host_seed = self.host_seed

    def epoch_records(epoch):
      epoch_seed = tf.random.experimental.stateless_fold_in(host_seed, epoch)
      order = tf.random.experimental.stateless_shuffle(
          tf.range(len(filenames)), seed=epoch_seed)
      records = _read_files(tf.gather(filenames, order),
                            tf.gather(tf.constant(skips, tf.int64), order),
                            tf.gather(tf.constant(takes, tf.int64), order),
                            cycle_length)
      shuffle_seed = tf.random.stateless_uniform(
          [], seed=epoch_seed, minval=0, maxval=2**31 - 1, dtype=tf.int64)
      return records.shuffle(buffer_size, seed=shuffle_seed,
                             reshuffle_each_iteration=False)

    records = tf.data.Dataset.range(first_epoch, 2**62).flat_map(
        epoch_records)
    return tf.data.Dataset.zip(tf.data.Dataset.counter(first_example),
                               records.skip(offset))

  def clip_maker(self, *, num_frames: int, crop_size: int, min_scale=None,
                 max_sampling_rate: int = 0):
    """`make_clip(k, serialized) -> {"video", "label"}`: example k's clip.

    Its random choices come from the stateless seed (seed, host, k);
    `min_scale` overrides the lower scale jitter bound.
    """
    config, data = self.config, self.config.data
    parse = _parser(self.builder)
    clip_args = _train_clip_args(config, builder_lib.stored_fps(self.builder),
                                 crop_size)
    clip_args.update(num_frames=num_frames,
                     max_sampling_rate=max_sampling_rate)
    if min_scale is not None:
      clip_args["jitter_scales"] = (min_scale, clip_args["jitter_scales"][1])
    num_classes = config.model.num_classes
    flip_label = _label_flipper(data, self.builder)

    def make_clip(index, serialized):
      example, source = parse(serialized)
      view = views.train_view(
          source,
          seed=tf.random.experimental.stateless_fold_in(self.host_seed,
                                                        index),
          **clip_args)
      if data.get("multi_label", False):
        label = multi_label.clip_labels(example, view.indices, num_classes)
      else:
        label = flip_label(tf.cast(example["label"], tf.int32), view.flipped)
      return {"video": view.clip, "label": label}

    return make_clip


def train_stream(config, *, process_index: int = 0, process_count: int = 1,
                 seed: int | None = None) -> TrainStream:
  """This host's `TrainStream` of `config.data.train_split`."""
  data = config.data
  seed = config.seed if seed is None else seed
  builder = _builder(data)
  host_split = tfds.split_for_jax_process(
      data.train_split, process_index=process_index,
      process_count=process_count)
  files = _file_instructions(builder, host_split)
  if sum(files[2]) == 0:
    raise ValueError(f"host {process_index} has no {data.train_split} "
                     "examples")
  return TrainStream(config=config, builder=builder, files=files,
                     host_seed=tf.constant([seed, process_index], tf.int64))


def _train_clip_args(config, fps, crop_size):
  data = config.data
  return dict(num_frames=config.model.num_frames,
              sampling_rate=data.sampling_rate, target_fps=data.target_fps,
              fps=fps, jitter_scales=tuple(data.train_jitter_scales),
              crop_size=crop_size, flip=bool(data.random_flip),
              clip_sampling=data.get("clip_sampling", "kinetics"),
              inverse_uniform=bool(data.get("inv_uniform_sample", False)))


def _label_flipper(data, builder):
  """`flip(label, flipped)`: with `data.label_aware_flip`, the class a
  flipped clip shows (`flip_labels.flip_permutation` of the dataset's class
  names); otherwise the label as it is."""
  if not data.get("label_aware_flip", False):
    return lambda label, flipped: label
  permutation = tf.constant(flip_labels.flip_permutation(
      builder_lib.class_names_of(builder.info.features)))
  return lambda label, flipped: tf.where(
      flipped, tf.gather(permutation, label), label)


def _uses_random_view(config, num_clips, num_crops, random_view):
  if random_view is None:
    single = num_clips == 1 and num_crops == 1
    return single and config.data.get("val_view", "random") == "random"
  if random_view and (num_clips, num_crops) != (1, 1):
    raise ValueError("a random (train-style) view is a single view: "
                     "num_clips = num_crops = 1")
  return random_view


def num_eval_batches(num_examples: int, *, num_clips: int, num_crops: int,
                     batch_size: int, process_count: int = 1) -> int:
  """Batches every host yields from `make_eval_dataset`."""
  videos_per_host = math.ceil(num_examples / process_count)
  per_host_batch = host_batch_size(batch_size, process_count)
  return math.ceil(videos_per_host * num_clips * num_crops / per_host_batch)


def _host_records(builder, host_split: str, nonempty: bool) -> tf.data.Dataset:
  """The serialized examples of `host_split`, in order (none if empty)."""
  if not nonempty:
    return tf.data.Dataset.from_tensor_slices(tf.constant([], tf.string))
  filenames, skips, takes = _file_instructions(builder, host_split)
  return _read_files(filenames, tf.constant(skips, tf.int64),
                     tf.constant(takes, tf.int64), cycle_length=1)


def _padding_views(num_frames: int, crop: int,
                   label_shape=()) -> tf.data.Dataset:
  """One padding view: mask False, indices -1 (multi-hot labels 0), empty
  id, zero video."""
  return tf.data.Dataset.from_tensors({
      "video": tf.zeros([num_frames, crop, crop, 3], tf.uint8),
      "label": tf.fill(label_shape, tf.constant(-1 if not label_shape else 0,
                                                tf.int32)),
      "video_index": tf.constant(-1, tf.int32),
      "view_index": tf.constant(-1, tf.int32),
      "mask": tf.constant(False),
      "video_id": tf.constant(""),
  })


def _view_maker(config, builder, *, random_view: bool, num_clips: int,
                num_crops: int, crop: int, fps: float):
  """`make_views(index, serialized)`: one video's eval views and fields."""
  data, parse = config.data, _parser(builder)
  num_views, num_frames = num_clips * num_crops, config.model.num_frames
  eval_seed = tf.constant([config.seed, _EVAL_SEED_SALT], tf.int64)
  flip_label = _label_flipper(data, builder)

  def make_views(index, serialized):
    example, source = parse(serialized)
    flipped = tf.constant(False)
    if random_view:
      clips, _, flipped = views.train_view(
          source,
          seed=tf.random.experimental.stateless_fold_in(eval_seed, index),
          mode="val", **_train_clip_args(config, fps, crop))
      clips = clips[None]
    else:
      clips = views.test_views(
          source, num_frames=num_frames,
          sampling_rate=data.sampling_rate, num_clips=num_clips,
          num_crops=num_crops, crop_size=crop,
          short_side=views.test_short_side(data, num_crops),
          target_fps=data.target_fps, fps=fps,
          clip_sampling=data.get("clip_sampling", "kinetics"),
          single_crop=data.get("single_test_crop", "center"))
    repeat = lambda x, dtype: tf.fill([num_views], tf.cast(x, dtype))
    if data.get("multi_label", False):
      label = multi_label.video_labels(example, config.model.num_classes)
      labels = tf.tile(label[None], [num_views, 1])
    else:
      labels = repeat(flip_label(tf.cast(example["label"], tf.int32),
                                 flipped), tf.int32)
    return {
        "video": clips,
        "label": labels,
        "video_index": repeat(index, tf.int32),
        "view_index": tf.range(num_views, dtype=tf.int32),
        "mask": tf.ones([num_views], tf.bool),
        "video_id": tf.fill([num_views], example["video_id"]),
    }

  return make_views


def make_eval_dataset(config, split: str, *, num_clips: int, num_crops: int,
                      batch_size: int, process_index: int = 0,
                      process_count: int = 1,
                      random_view: bool | None = None) -> tf.data.Dataset:
  """Finite host-local batches with every (video, view) exactly once.

  Views are the release's test views: `num_clips` uniformly spaced windows x
  `num_crops` (3: along the long side after resizing the short side to
  `test_crop_size`; 1: centre crop after resizing to
  `train_jitter_scales[0]`), all `test_crop_size` square.

  The release validates during training on one *random* train-style view per
  video (random window, scale jitter, `train_crop_size` crop, flip). With
  `num_clips = num_crops = 1` that is what you get when
  `config.data.val_view == "random"` (the default) or `random_view=True`;
  it is deterministic for a given `config.seed`. `random_view=False` (or
  `val_view = "center"`) gives the deterministic test-style view instead.

  Args:
    config: full config.
    split: split name of the prepared dataset.
    num_clips, num_crops: views per video.
    batch_size: global batch size; each host gets `batch_size //
      process_count` views per batch.
    process_index, process_count: this host and the number of hosts.
    random_view: see above; None decides from `config.data.val_view`.

  Returns:
    `{"video": uint8 (batch, num_frames, crop, crop, 3), "label": int32,
    "video_index": int32, "view_index": int32, "mask": bool, "video_id":
    string}`, all `(batch,)` but video (and a multi-label dataset's
    `label`: the video's multi-hot labels, int32 `(batch, num_classes)`).
    `video_index` is the video's position
    in the split (the same whatever the number of hosts), `view_index` =
    temporal clip * num_crops + spatial crop, `video_id` the dataset's id
    (the list's path, e.g. `val/a1.mp4`). Padding views have mask False,
    index -1, an empty id and a zero video. Every host yields
    `num_eval_batches(...)` batches.
  """
  data = config.data
  host_batch = host_batch_size(batch_size, process_count)
  builder = _builder(data)
  num_examples = builder.info.splits[split].num_examples
  host_split, start = _host_split(builder, split, process_index,
                                  process_count)
  end = start + builder.info.splits[host_split].num_examples
  random_view = _uses_random_view(config, num_clips, num_crops, random_view)
  num_views = num_clips * num_crops
  num_frames = config.model.num_frames
  crop = data.train_crop_size if random_view else data.test_crop_size
  fps = builder_lib.stored_fps(builder)

  examples = tf.data.Dataset.zip(tf.data.Dataset.counter(start),
                                 _host_records(builder, host_split, end > start))
  make_views = _view_maker(config, builder, random_view=random_view,
                           num_clips=num_clips, num_crops=num_crops, crop=crop,
                           fps=fps)
  ds = examples.map(make_views, num_parallel_calls=AUTOTUNE,
                    deterministic=True).unbatch()
  num_batches = num_eval_batches(num_examples, num_clips=num_clips,
                                 num_crops=num_crops, batch_size=batch_size,
                                 process_count=process_count)
  num_padding = num_batches * host_batch - (end - start) * num_views
  label_shape = ([config.model.num_classes] if data.get("multi_label", False)
                 else [])
  padding = _padding_views(num_frames, crop, label_shape).repeat(num_padding)
  ds = ds.concatenate(padding).batch(host_batch, drop_remainder=True)
  return ds.prefetch(AUTOTUNE).with_options(dataset_options())
