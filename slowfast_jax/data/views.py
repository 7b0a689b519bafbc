"""From a video's frames to the clips the model sees (TensorFlow).

A video is a `FrameSource`: its length and a `fetch(indices)` returning the
uint8 frames `(len(indices), height, width, 3)` at those indices. For a
prepared dataset only the needed frames are JPEG-decoded (`jpeg_source`);
decoded frames are gathered (`array_source`).
Train and test views are built the same way for both, so the eval pipeline
and a predict tool on raw videos agree.
"""

from typing import Callable, NamedTuple

import tensorflow as tf

from slowfast_jax import config_lib
from slowfast_jax.data import sampling
from slowfast_jax.data import transforms


class FrameSource(NamedTuple):
  length: tf.Tensor  # int32 scalar: number of frames.
  fetch: Callable[[tf.Tensor], tf.Tensor]  # indices -> uint8 frames.


def jpeg_source(jpegs) -> FrameSource:
  """A video stored as a string tensor `(frames,)` of same-size JPEGs."""

  def fetch(indices):
    return tf.map_fn(lambda s: tf.io.decode_jpeg(s, channels=3),
                     tf.gather(jpegs, indices),
                     fn_output_signature=tf.TensorSpec([None, None, 3],
                                                       tf.uint8))

  return FrameSource(tf.shape(jpegs)[0], fetch)


def array_source(frames) -> FrameSource:
  """Decoded frames, uint8 `(frames, height, width, 3)`."""
  frames = tf.convert_to_tensor(frames)
  return FrameSource(tf.shape(frames)[0], lambda i: tf.gather(frames, i))


def _fetch_distinct(source: FrameSource, indices):
  """The distinct frames among `indices` and where each index finds its own.

  Test windows overlap and videos shorter than the window repeat frames;
  decoding and resizing dominate the cost, so do them once per frame.
  """
  unique, position = tf.unique(tf.reshape(indices, [-1]))
  return source.fetch(unique), position


# `config.data.single_test_crop` -> the release's spatial index of a single
# test crop: its Kinetics loader takes the centre (1), its SSv2 and Charades
# loaders `view % NUM_SPATIAL_CROPS` = 0, the left (or top) crop.
SINGLE_CROP_INDEX = {"center": 1, "first": 0}


class TrainView(NamedTuple):
  clip: tf.Tensor  # uint8 (num_frames, crop_size, crop_size, 3).
  indices: tf.Tensor  # int32 (num_frames,): the stored frames it took.
  flipped: tf.Tensor  # bool scalar: mirrored left-right.


def _check_sampling(clip_sampling: str, target_fps: float, fps: float):
  if clip_sampling not in config_lib.CLIP_SAMPLINGS:
    raise ValueError(f"config.data.clip_sampling={clip_sampling!r}; expected "
                     f"one of {config_lib.CLIP_SAMPLINGS}.")
  if clip_sampling == "charades" and fps != target_fps:
    raise ValueError(
        f"config.data.clip_sampling='charades' counts stored frames, which "
        f"are at {fps:g} fps, but config.data.target_fps={target_fps:g}; "
        f"prepare the dataset with --fps {target_fps:g} or set "
        f"--config.data.target_fps={fps:g}.")


def train_indices(length, *, num_frames: int, sampling_rate: int,
                  target_fps: float, fps: float, seed,
                  clip_sampling: str = "kinetics",
                  mode: str = "train",
                  max_sampling_rate: int = 0) -> tf.Tensor:
  """The frames (int32 `(num_frames,)`) of a training clip at a random start.

  `clip_sampling`: "kinetics" (the release's linspace over a window of
  `sampling_rate * num_frames` frames at `target_fps`), "charades" (every
  `sampling_rate`-th stored frame from an integer start) or "ssv2" (one
  frame from each of `num_frames` segments of the whole video; `sampling`).
  `mode` "val": the frames of the release's validation clips, random as in
  training but for "ssv2", whose validation takes the test frames. With
  `max_sampling_rate > sampling_rate` (multigrid's long cycle) the clip's
  rate is drawn uniformly from `sampling_rate..max_sampling_rate` first.
  """
  _check_sampling(clip_sampling, target_fps, fps)
  if clip_sampling == "ssv2":
    if mode == "val":
      return sampling.ssv2_test_indices_tf(length, num_frames)
    return sampling.ssv2_train_indices_tf(length, num_frames, seed)
  rate = sampling_rate
  if max_sampling_rate > sampling_rate:
    rate_seed, seed = tf.unstack(tf.random.experimental.stateless_split(seed))
    rate = sampling.random_sampling_rate_tf(sampling_rate, max_sampling_rate,
                                            rate_seed)
  if clip_sampling == "charades":
    start = sampling.charades_train_start_tf(
        length, sampling.charades_clip_length(num_frames, rate), seed)
    return sampling.charades_clip_indices_tf(start, num_frames, rate, length)
  if max_sampling_rate > sampling_rate:
    window = sampling.clip_size_tf(num_frames, rate, target_fps, fps)
  else:
    window = sampling.clip_size(num_frames, sampling_rate, target_fps, fps)
  start = sampling.train_window_start_tf(length, window, seed)
  return sampling.clip_indices_tf(start, window, num_frames, length)


def train_view(
    source: FrameSource, *, num_frames: int, sampling_rate: int,
    target_fps: float, fps: float, jitter_scales, crop_size: int, flip: bool,
    seed, clip_sampling: str = "kinetics", inverse_uniform: bool = False,
    mode: str = "train", max_sampling_rate: int = 0) -> TrainView:
  """`train_clip`, the stored-frame indices it took and whether it was
  flipped; `mode`, `max_sampling_rate` as `train_indices`."""
  start_seed, spatial_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  indices = train_indices(source.length, num_frames=num_frames,
                          sampling_rate=sampling_rate, target_fps=target_fps,
                          fps=fps, seed=start_seed,
                          clip_sampling=clip_sampling, mode=mode,
                          max_sampling_rate=max_sampling_rate)
  frames, position = _fetch_distinct(source, indices)
  crops, flipped = transforms.train_augment_and_flip(
      frames, jitter_scales=jitter_scales, crop_size=crop_size, flip=flip,
      seed=spatial_seed, inverse_uniform=inverse_uniform)
  clip = tf.gather(crops, position)
  return TrainView(
      tf.ensure_shape(clip, [num_frames, crop_size, crop_size, 3]), indices,
      flipped)


def train_clip(source: FrameSource, **kwargs) -> tf.Tensor:
  """The release's training (and validation) view of one video.

  A window at a random start, `num_frames` frames by the release's linspace
  (or its Charades or SSv2 rule, `clip_sampling`), random short-side
  scale in `jitter_scales` (`inverse_uniform`: DATA.INV_UNIFORM_SAMPLE),
  random square crop, random horizontal flip; the same scale, crop and flip
  for every frame.

  Args:
    source: the video.
    **kwargs: `num_frames`, `sampling_rate`, `target_fps`, `fps`,
      `jitter_scales`, `crop_size`, `flip`, `seed` (`(2,)` stateless seed;
      the whole clip is a function of it), optional `clip_sampling`,
      `inverse_uniform`, `mode` and `max_sampling_rate` (see `train_view`).

  Returns:
    uint8 `(num_frames, crop_size, crop_size, 3)`.
  """
  return train_view(source, **kwargs).clip


def test_indices(length, *, num_frames: int, sampling_rate: int,
                 num_clips: int, target_fps: float, fps: float,
                 clip_sampling: str = "kinetics") -> tf.Tensor:
  """The frames (int32 `(num_clips, num_frames)`) of the test windows
  (with "ssv2" sampling every clip takes the same frames, as the release's)."""
  _check_sampling(clip_sampling, target_fps, fps)
  if clip_sampling == "ssv2":
    return tf.tile(sampling.ssv2_test_indices_tf(length, num_frames)[None],
                   [num_clips, 1])
  if clip_sampling == "charades":
    starts = sampling.charades_test_starts_tf(
        length, sampling.charades_clip_length(num_frames, sampling_rate),
        num_clips)
    return tf.stack([
        sampling.charades_clip_indices_tf(starts[i], num_frames,
                                          sampling_rate, length)
        for i in range(num_clips)])
  window = sampling.clip_size(num_frames, sampling_rate, target_fps, fps)
  starts = sampling.test_window_starts_tf(length, window, num_clips)
  return tf.stack([
      sampling.clip_indices_tf(starts[i], window, num_frames, length)
      for i in range(num_clips)
  ])


def test_views(source: FrameSource, *, num_frames: int, sampling_rate: int,
               num_clips: int, num_crops: int, crop_size: int,
               short_side: int, target_fps: float, fps: float,
               clip_sampling: str = "kinetics",
               single_crop: str = "center") -> tf.Tensor:
  """The release's test views of one video.

  `num_clips` windows starting at `delta * i / num_clips` (Charades and
  SSv2 sampling: `test_indices`), each resized to `short_side` and cut into
  `num_crops` (1 or 3) crops along the long side; a single crop is the
  centre one, or with `single_crop="first"` the left (top) one.

  Returns:
    uint8 `(num_clips * num_crops, num_frames, crop_size, crop_size, 3)`;
    view v is temporal clip `v // num_crops` and spatial crop
    `v % num_crops`, the release's order.
  """
  indices = test_indices(source.length, num_frames=num_frames,
                         sampling_rate=sampling_rate, num_clips=num_clips,
                         target_fps=target_fps, fps=fps,
                         clip_sampling=clip_sampling)
  frames, position = _fetch_distinct(source, indices)
  frames = transforms.resize_short_side(frames, short_side)
  clips = tf.reshape(
      tf.gather(frames, position),
      tf.concat([[num_clips, num_frames], tf.shape(frames)[1:]], axis=0))
  views = transforms.uniform_crops(
      clips, crop_size=crop_size, num_crops=num_crops,
      single_index=SINGLE_CROP_INDEX[single_crop])
  return tf.reshape(
      views, [num_clips * num_crops, num_frames, crop_size, crop_size, 3])


def test_short_side(data_config, num_crops: int) -> int:
  """Short side before test crops (release: TEST_CROP_SIZE for 3 crops,
  TRAIN_JITTER_SCALES[0] for a single centre crop, TEST_CROP_SIZE for the
  single first crop of `data_config.single_test_crop = "first"`)."""
  if (num_crops == 1 and
      data_config.get("single_test_crop", "center") == "center"):
    return int(data_config.train_jitter_scales[0])
  return int(data_config.test_crop_size)
