"""Spatial transforms of a clip and its person boxes, as the release's AVA
loader applies them (its OpenCV path, `AVA.IMG_PROC_BACKEND` "cv2").

Boxes are float32 `(boxes, 4)` x1, y1, x2, y2 in pixels of the frames they
go with; frames uint8 `(time, height, width, 3)`. The release:

* scales normalised boxes to the frame and clips them to `[0, width - 1]` x
  `[0, height - 1]`;
* train: short side to `int(round(1 / U(1 / max, 1 / min)))` (uniform in
  inverse size, unlike Kinetics), boxes times `new long side / long side`;
  a random `crop_size` square (boxes shifted); horizontal flip with p = 0.5
  (box x becomes `crop_size - x - 1`, x1 and x2 swapped);
* test: short side to the test scale, boxes scaled the same way, no crop;
  val (validation during training): then the centre square of that size
  (offsets `ceil((length - size) / 2)`), boxes shifted;
* finally clips the boxes to the output frame.

Frames are resized with `transforms.resize_and_crop` (the release's bilinear
sampling points, rounded to uint8).
"""

import tensorflow as tf

from slowfast_jax.data import transforms


def clip_boxes(boxes, height, width) -> tf.Tensor:
  """Boxes clipped to `[0, width - 1]` x `[0, height - 1]`."""
  high = tf.cast(tf.stack([width, height, width, height]), tf.float32) - 1.0
  return tf.minimum(tf.maximum(boxes, 0.0), high)


def to_pixels(normalised, height, width) -> tf.Tensor:
  """Normalised AVA boxes -> clipped pixel boxes of a `height` x `width`
  frame."""
  size = tf.cast(tf.stack([width, height, width, height]), tf.float32)
  return clip_boxes(normalised * size, height, width)


def _scale(boxes, height, width, new_height, new_width) -> tf.Tensor:
  """Boxes times the long side's scale factor (the release's rule)."""
  h, w, nh, nw = (tf.cast(v, tf.float32) for v in
                  (height, width, new_height, new_width))
  factor = tf.where(width < height, nh / h, nw / w)
  return boxes * factor


def jitter_size(min_size: int, max_size: int, seed) -> tf.Tensor:
  """`int(round(1 / U(1 / max_size, 1 / min_size)))`, round half to even."""
  u = tf.random.stateless_uniform([], seed=seed, dtype=tf.float64)
  low, high = 1.0 / max_size, 1.0 / min_size
  return tf.cast(tf.round(1.0 / (low + (high - low) * u)), tf.int32)


def train_clip(clip, boxes, *, jitter_scales, crop_size: int, flip: bool,
               seed) -> tuple[tf.Tensor, tf.Tensor]:
  """Scale jitter, random crop and flip of a clip and its pixel boxes.

  Args:
    clip: uint8 `(time, height, width, 3)`.
    boxes: float32 `(boxes, 4)` clipped pixel boxes of `clip`.
    seed: `(2,)` stateless seed fixing scale, crop and flip.

  Returns:
    uint8 `(time, crop_size, crop_size, 3)` and the boxes in its pixels.
  """
  size_seed, crop_seed, flip_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3))
  size = jitter_size(jitter_scales[0], jitter_scales[1], size_seed)
  shape = tf.shape(clip)
  new_h, new_w = transforms.short_side_resize_shape(shape[1], shape[2], size)
  boxes = _scale(boxes, shape[1], shape[2], new_h, new_w)
  corner = transforms.random_crop_offsets(new_h, new_w, crop_size, crop_seed)
  out = transforms.resize_and_crop(clip, tf.stack([new_h, new_w]), corner,
                                   [crop_size, crop_size])
  y, x = tf.unstack(tf.cast(corner, tf.float32))
  boxes = boxes - tf.stack([x, y, x, y])
  if flip:
    flipped = tf.random.stateless_uniform([], seed=flip_seed) < 0.5
    out = tf.cond(flipped, lambda: tf.reverse(out, axis=[2]), lambda: out)
    mirrored = tf.stack([crop_size - boxes[:, 2] - 1.0, boxes[:, 1],
                         crop_size - boxes[:, 0] - 1.0, boxes[:, 3]], axis=1)
    boxes = tf.where(flipped, mirrored, boxes)
  boxes = clip_boxes(boxes, crop_size, crop_size)
  return tf.ensure_shape(out, [None, crop_size, crop_size, 3]), boxes


def test_clip(clip, boxes, *, short_side: int) -> tuple[tf.Tensor, tf.Tensor]:
  """The whole frame with its short side at `short_side`, boxes scaled."""
  shape = tf.shape(clip)
  new_h, new_w = transforms.short_side_resize_shape(shape[1], shape[2],
                                                    short_side)
  out = transforms.resize_and_crop(clip, tf.stack([new_h, new_w]), [0, 0],
                                   tf.stack([new_h, new_w]))
  boxes = _scale(boxes, shape[1], shape[2], new_h, new_w)
  return out, clip_boxes(boxes, new_h, new_w)


def val_clip(clip, boxes, *, size: int) -> tuple[tf.Tensor, tf.Tensor]:
  """`test_clip` at short side `size`, then its centre `size` square."""
  clip, boxes = test_clip(clip, boxes, short_side=size)
  shape = tf.shape(clip)
  y, x = transforms.uniform_crop_offsets(shape[1], shape[2], size, 1)
  out = clip[:, y:y + size, x:x + size]
  y, x = tf.cast(y, tf.float32), tf.cast(x, tf.float32)
  boxes = clip_boxes(boxes - tf.stack([x, y, x, y]), size, size)
  return tf.ensure_shape(out, [None, size, size, 3]), boxes
