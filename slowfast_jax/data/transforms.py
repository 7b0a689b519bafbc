"""Spatial clip transforms in TensorFlow, as the release applies them.

Clips are uint8 `(time, height, width, channels)`. Every frame of a clip gets
the same scale, crop and flip.

Resizing samples at PyTorch's `F.interpolate(mode="bilinear",
align_corners=False)` points (source coordinate `(dst + 0.5) * in / out -
0.5`, clamped to the frame), which is what the release calls. It runs in
OpenCV's `cv2.resize` (`INTER_LINEAR` on float32 frames, the same sampling
points), about 3.5x faster on a CPU than `tf.image.resize`
(`bench/resize.py`); it is the input pipeline's largest cost after JPEG
decoding.

The release normalizes before resizing and keeps floats; here resized values
are rounded to uint8 (normalization happens on device), a difference of at
most half a grey level (plus OpenCV's float rounding, under 0.01).
"""

import cv2
import numpy as np
import tensorflow as tf


def _resize_crop_np(frames, size, corner, crop):
  """Numpy body of `resize_and_crop`; one frame at a time (cache-sized)."""
  new_h, new_w = (int(v) for v in size)
  y, x = (int(v) for v in corner)
  crop_h, crop_w = (int(v) for v in crop)
  out = np.empty((len(frames), crop_h, crop_w, frames.shape[-1]), np.uint8)
  same_size = (new_h, new_w) == frames.shape[1:3]
  for i, frame in enumerate(frames):
    if same_size:
      resized = frame
    else:
      resized = cv2.resize(frame.astype(np.float32), (new_w, new_h),
                           interpolation=cv2.INTER_LINEAR)
    window = resized[y:y + crop_h, x:x + crop_w]
    if same_size:
      out[i] = window
    else:  # Within [0, 255]: adding 0.5 and truncating rounds half up.
      np.add(window, 0.5, out=window)
      out[i] = window
  return out


def resize_and_crop(clip, size, corner, crop) -> tf.Tensor:
  """Resizes every frame to `size` and cuts `crop` at `corner`.

  Bilinear with half-pixel centres and edge clamping, no antialiasing
  (PyTorch's `F.interpolate(mode="bilinear", align_corners=False)`), rounded
  to uint8.

  Args:
    clip: uint8 `(time, height, width, channels)`.
    size: `(new_height, new_width)`.
    corner: `(y, x)` of the crop in the resized frames.
    crop: `(crop_height, crop_width)`.

  Returns:
    uint8 `(time, crop_height, crop_width, channels)`.
  """
  args = [tf.cast(tf.convert_to_tensor(v), tf.int32)
          for v in (size, corner, crop)]
  out = tf.numpy_function(_resize_crop_np, [clip] + args, tf.uint8,
                          stateful=False)
  return tf.reshape(out, tf.concat([tf.shape(clip)[:1], args[2],
                                    tf.shape(clip)[3:]], axis=0))


def short_side_resize_shape(height, width, size):
  """Output `(height, width)` of the release's short-side resize to `size`.

  The long side becomes `floor(long / short * size)` (computed in float64, as
  Python does); a frame whose short side already equals `size` is unchanged.
  """
  height = tf.cast(height, tf.int32)
  width = tf.cast(width, tf.int32)
  size = tf.cast(size, tf.int32)
  h64, w64, s64 = (tf.cast(v, tf.float64) for v in (height, width, size))
  portrait = width < height
  new_h = tf.where(portrait, tf.cast(tf.floor(h64 / w64 * s64), tf.int32), size)
  new_w = tf.where(portrait, size, tf.cast(tf.floor(w64 / h64 * s64), tf.int32))
  unchanged = tf.logical_or(
      tf.logical_and(width <= height, tf.equal(width, size)),
      tf.logical_and(height <= width, tf.equal(height, size)))
  return (tf.where(unchanged, height, new_h), tf.where(unchanged, width, new_w))


def resize_short_side(clip, size) -> tf.Tensor:
  """Whole-frame short-side resize of uint8 `(time, h, w, 3)` -> uint8."""
  shape = tf.shape(clip)
  new_size = tf.stack(short_side_resize_shape(shape[1], shape[2], size))
  return resize_and_crop(clip, new_size, [0, 0], new_size)


def random_jitter_size(min_size: int, max_size: int, seed,
                       inverse_uniform: bool = False) -> tf.Tensor:
  """`int(round(U(min_size, max_size)))` (round half to even, as Python).

  With `inverse_uniform` (release DATA.INV_UNIFORM_SAMPLE):
  `int(round(1 / U(1 / max_size, 1 / min_size)))`, so smaller sizes are
  drawn more often.
  """
  u = tf.random.stateless_uniform([], seed=seed, dtype=tf.float64)
  if inverse_uniform:
    low, high = 1.0 / max_size, 1.0 / min_size
    value = 1.0 / (low + (high - low) * u)
  else:
    value = min_size + (max_size - min_size) * u
  return tf.cast(tf.round(value), tf.int32)


def random_crop_offsets(height, width, crop_size: int, seed) -> tf.Tensor:
  """Crop corner `(y, x)` as the release draws it.

  Each offset is `randint(0, length - crop_size)`, upper bound exclusive (so
  the last position is never drawn), and 0 when the length equals the crop.
  """
  limits = tf.stack([height, width]) - crop_size
  maxval = tf.maximum(limits, 1)  # [0, 1) gives the length == crop case.
  u = tf.random.stateless_uniform([2], seed=seed, dtype=tf.float64)
  return tf.cast(tf.floor(u * tf.cast(maxval, tf.float64)), tf.int32)


def flip_decision(seed) -> tf.Tensor:
  """Whether a clip is flipped (bool scalar): true with probability 0.5."""
  return tf.random.stateless_uniform([], seed=seed) < 0.5


def flip_if(clip, flipped) -> tf.Tensor:
  """The clip `(time, height, width, channels)` mirrored left-right if
  `flipped` (bool scalar)."""
  return tf.cond(flipped, lambda: tf.reverse(clip, axis=[2]), lambda: clip)


def train_augment(clip, **kwargs) -> tf.Tensor:
  """Release train/val spatial sampling of a uint8 clip.

  Short side resized to `int(round(U(*jitter_scales)))` (or its inverse-
  uniform form, `random_jitter_size`), a random `crop_size` square crop,
  horizontal flip with p = 0.5 if `flip`; the same for every frame.

  Args:
    clip: uint8 `(time, height, width, 3)`.
    **kwargs: `jitter_scales`, `crop_size`, `flip`, `seed` (`(2,)`
      stateless seed; it fixes scale, crop and flip), optional
      `inverse_uniform` (see `train_augment_and_flip`).

  Returns:
    uint8 `(time, crop_size, crop_size, 3)`.
  """
  return train_augment_and_flip(clip, **kwargs)[0]


def train_augment_and_flip(clip, *, jitter_scales, crop_size: int,
                           flip: bool, seed, inverse_uniform: bool = False
                           ) -> tuple[tf.Tensor, tf.Tensor]:
  """`train_augment`'s clip and whether it was flipped (bool scalar)."""
  size_seed, crop_seed, flip_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3))
  size = random_jitter_size(jitter_scales[0], jitter_scales[1], size_seed,
                            inverse_uniform)
  shape = tf.shape(clip)
  new_h, new_w = short_side_resize_shape(shape[1], shape[2], size)
  tf.debugging.assert_greater_equal(
      tf.minimum(new_h, new_w), crop_size,
      message="train crop larger than the scaled frame")
  corner = random_crop_offsets(new_h, new_w, crop_size, crop_seed)
  out = resize_and_crop(clip, tf.stack([new_h, new_w]), corner,
                        [crop_size, crop_size])
  flipped = flip_decision(flip_seed) if flip else tf.constant(False)
  out = flip_if(out, flipped) if flip else out
  return tf.ensure_shape(out, [None, crop_size, crop_size, 3]), flipped


def uniform_crop_offsets(height, width, size: int, spatial_index: int):
  """The release's `uniform_crop` corner for crop 0, 1 or 2.

  Crops run along the long side: left/centre/right for landscape frames,
  top/centre/bottom for portrait ones (square frames count as landscape). The
  centre offset is `ceil((length - size) / 2)`.
  """
  y = (height - size + 1) // 2
  x = (width - size + 1) // 2
  if spatial_index == 1:
    return y, x
  portrait = height > width
  edge_y = 0 if spatial_index == 0 else height - size
  edge_x = 0 if spatial_index == 0 else width - size
  return tf.where(portrait, edge_y, y), tf.where(portrait, x, edge_x)


def uniform_crops(clips, *, crop_size: int, num_crops: int,
                  single_index: int = 1) -> tf.Tensor:
  """The release's test-time crops of clips already resized.

  Args:
    clips: uint8 `(num_clips, time, height, width, 3)`, all the same size,
      short side already resized (release: to TEST_CROP_SIZE for 3 crops, to
      TRAIN_JITTER_SCALES[0] for 1 crop).
    crop_size: side of the square crops.
    num_crops: 3 (left/centre/right or top/centre/bottom) or 1.
    single_index: with one crop, which of the three (release: 1, the centre,
      in its Kinetics loader; 0, the left or top one, in its SSv2 loader).

  Returns:
    uint8 `(num_clips, num_crops, time, crop_size, crop_size, 3)`.
  """
  if num_crops not in (1, 3):
    raise ValueError(f"num_crops must be 1 or 3 (release), got {num_crops}")
  height, width = tf.shape(clips)[2], tf.shape(clips)[3]
  indices = [single_index] if num_crops == 1 else [0, 1, 2]
  views = []
  for spatial_index in indices:
    y, x = uniform_crop_offsets(height, width, crop_size, spatial_index)
    views.append(clips[:, :, y:y + crop_size, x:x + crop_size, :])
  out = tf.stack(views, axis=1)
  return tf.ensure_shape(out, [None, num_crops, None, crop_size, crop_size, 3])
