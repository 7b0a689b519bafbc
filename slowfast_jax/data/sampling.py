"""Which stored frames a clip takes: the release's temporal index math.

Frames are indexed at the dataset's frame rate `fps` (the rate prepare
resampled to, normally `target_fps`). The release computes, per clip:

  clip_size = max(1, sampling_rate * num_frames / target_fps * fps)
  delta     = max(video_length - clip_size, 0)
  start     = U(0, delta)                       (train and val)
            = delta * i / num_clips             (test clip i)
  indices   = long(clamp(torch.linspace(start, start + clip_size - 1,
                                        num_frames), 0, video_length - 1))

and the Slow pathway takes `long(torch.linspace(0, T - 1, T // alpha))` of
the Fast clip's T frames.

The release's Charades loader (datasets/charades.py, `get_seq_frames`)
counts in stored frames instead (its frames are 24 fps, TARGET_FPS unused):

  clip_length = (num_frames - 1) * sampling_rate + 1
  start       = randint(min(0, L - clip_length), max(0, L - clip_length))
                                                (train and val, both ends in)
              = int(round(max(L - clip_length, 0) / (num_clips - 1) * i))
                                                (test clip i)
  indices     = clamp(start + k * sampling_rate, 0, L - 1), k < num_frames

(`charades_*`). With one test clip the release divides by zero; here that
clip starts at 0.

The release's SSv2 loader (datasets/ssv2.py, `get_seq_frames`) spreads the
clip over the whole video, one frame per segment (`ssv2_*`):

  size      = (L - 1) / num_frames
  segment i = round(size * i) ... round(size * (i + 1))   (both ends in)
  frame i   = randint(first, last)                       (train)
            = (first + last) // 2                        (val and test)

sampling_rate and target_fps play no part, and every test clip is the same.

`torch.linspace` runs in float32, so its truncation disagrees with exact
arithmetic on a few percent of test windows (values landing on integers). The
functions here reproduce torch's float32 arithmetic bit for bit, as torch runs
on AVX2/AVX-512 CPUs (where the compiler fuses `start + step * i` into one
fused multiply-add), so the indices equal the release's, not merely a formula
close to it. Each function exists in NumPy (`*_np`, for static index sets and
tests) and TensorFlow (`*_tf`, for tf.data graphs).
"""

import numpy as np
import tensorflow as tf


def clip_size(num_frames: int, sampling_rate: int, target_fps: float,
              fps: float) -> float:
  """Length in stored frames of the window one clip spans (release formula)."""
  return max(1.0, sampling_rate * num_frames / target_fps * fps)


def clip_size_tf(num_frames: int, sampling_rate, target_fps: float,
                 fps: float) -> tf.Tensor:
  """`clip_size` of a (per-clip, int32 tensor) sampling rate: float64."""
  rate = tf.cast(sampling_rate, tf.float64)
  return tf.maximum(tf.constant(1.0, tf.float64),
                    rate * num_frames / target_fps * fps)


def random_sampling_rate_tf(low: int, high: int, seed) -> tf.Tensor:
  """A sampling rate uniform over the integers `low..high` (int32).

  The release's multigrid long cycle (datasets/utils.py,
  `get_random_sampling_rate`) draws it per clip, so clips of fewer frames
  sometimes span the default clip's time.
  """
  return tf.random.stateless_uniform([], seed=seed, minval=low,
                                     maxval=high + 1, dtype=tf.int32)


def test_window_starts(video_length: int, window: float,
                       num_clips: int) -> np.ndarray:
  """Start frames (float64, `(num_clips,)`) of the release's test windows.

  Clip i starts at `delta * i / num_clips`: uniformly spaced, the last one
  not reaching the end of the video (release: USE_OFFSET_SAMPLING False).
  """
  delta = max(video_length - window, 0.0)
  return np.array([delta * i / num_clips for i in range(num_clips)],
                  dtype=np.float64)


def _fma32_np(a, b, c):
  # float32 fused multiply-add: the float64 product of two float32 values is
  # exact, and so is the float64 sum at frame-index magnitudes; one final
  # rounding to float32, as the hardware instruction does.
  return (np.float64(a) * np.float64(b) + np.float64(c)).astype(np.float32)


def torch_linspace_np(start: float, end: float, steps: int) -> np.ndarray:
  """`torch.linspace(start, end, steps)` in float32, bit-exact (AVX2/AVX-512).

  Torch computes the first half forward from `start` and the second half
  backward from `end`, each with one fused multiply-add per element.
  """
  start32 = np.float32(start)
  end32 = np.float32(end)
  if steps == 1:
    return np.array([start32], dtype=np.float32)
  step = np.float32((end32 - start32) / np.float32(steps - 1))
  i = np.arange(steps)
  forward = _fma32_np(step, i.astype(np.float32), start32)
  backward = _fma32_np(-step, (steps - 1 - i).astype(np.float32), end32)
  return np.where(i < steps // 2, forward, backward).astype(np.float32)


def clip_indices_np(start: float, window: float, num_frames: int,
                    video_length: int) -> np.ndarray:
  """Stored-frame indices (int64, `(num_frames,)`) of the clip at `start`.

  Args:
    start: first frame of the window (float, as the release draws it).
    window: `clip_size(...)`.
    num_frames: frames the clip keeps.
    video_length: frames the video has; indices are clamped into it, which is
      how the release handles videos shorter than the window.
  """
  values = torch_linspace_np(start, start + window - 1, num_frames)
  values = np.clip(values, np.float32(0), np.float32(video_length - 1))
  return values.astype(np.int64)  # Truncation, as torch's `.long()`.


def slow_pathway_indices(num_frames: int, alpha: int) -> np.ndarray:
  """Which of the Fast clip's frames the Slow pathway takes (int64).

  E.g. T=32, alpha=4 -> [0, 4, 8, 13, 17, 22, 26, 31]: not uniform.
  """
  return torch_linspace_np(0, num_frames - 1,
                           num_frames // alpha).astype(np.int64)


def _fma32_tf(a, b, c):
  return tf.cast(
      tf.cast(a, tf.float64) * tf.cast(b, tf.float64) + tf.cast(c, tf.float64),
      tf.float32)


def torch_linspace_tf(start, end, steps: int) -> tf.Tensor:
  """TensorFlow twin of `torch_linspace_np`; `start`, `end` float64 scalars."""
  start32 = tf.cast(start, tf.float32)
  end32 = tf.cast(end, tf.float32)
  if steps == 1:
    return tf.reshape(start32, [1])
  step = (end32 - start32) / tf.constant(steps - 1, tf.float32)
  i = tf.range(steps)
  forward = _fma32_tf(step, tf.cast(i, tf.float32), start32)
  backward = _fma32_tf(-step, tf.cast(steps - 1 - i, tf.float32), end32)
  return tf.where(i < steps // 2, forward, backward)


def clip_indices_tf(start, window: float, num_frames: int,
                    video_length) -> tf.Tensor:
  """TensorFlow twin of `clip_indices_np`; returns int32 `(num_frames,)`."""
  start = tf.cast(start, tf.float64)
  values = torch_linspace_tf(start, start + (window - 1.0), num_frames)
  last = tf.cast(video_length - 1, tf.float32)
  values = tf.clip_by_value(values, 0.0, last)
  return tf.cast(values, tf.int32)  # Truncation toward zero.


def train_window_start_tf(video_length, window: float, seed) -> tf.Tensor:
  """Random window start U(0, delta), float64 (release: `random.uniform`)."""
  delta = tf.maximum(tf.cast(video_length, tf.float64) - window, 0.0)
  u = tf.random.stateless_uniform([], seed=seed, dtype=tf.float64)
  return u * delta


def test_window_starts_tf(video_length, window: float,
                          num_clips: int) -> tf.Tensor:
  """TensorFlow twin of `test_window_starts`: float64 `(num_clips,)`."""
  delta = tf.maximum(tf.cast(video_length, tf.float64) - window, 0.0)
  i = tf.range(num_clips, dtype=tf.float64)
  return delta * i / num_clips


def charades_clip_length(num_frames: int, sampling_rate: int) -> int:
  """Stored frames from a Charades clip's first frame to its last."""
  return (num_frames - 1) * sampling_rate + 1


def charades_test_starts_np(video_length: int, clip_length: int,
                            num_clips: int) -> np.ndarray:
  """Start frames (int64, `(num_clips,)`) of the Charades test clips.

  `int(round(gap * i))` with Python's round half to even, as `np.round`.
  """
  if num_clips == 1:
    return np.zeros(1, np.int64)
  gap = max(video_length - clip_length, 0) / (num_clips - 1)
  return np.round(gap * np.arange(num_clips, dtype=np.float64)).astype(
      np.int64)


def charades_clip_indices_np(start: int, num_frames: int, sampling_rate: int,
                             video_length: int) -> np.ndarray:
  """Stored-frame indices (int64, `(num_frames,)`) of a Charades clip."""
  values = start + sampling_rate * np.arange(num_frames, dtype=np.int64)
  return np.clip(values, 0, video_length - 1)


def charades_train_start_tf(video_length, clip_length: int, seed) -> tf.Tensor:
  """The random start of a Charades training clip (int32): uniform over the
  integers from `min(0, L - clip_length)` to `max(0, L - clip_length)`."""
  slack = tf.cast(video_length, tf.int32) - clip_length
  low, high = tf.minimum(slack, 0), tf.maximum(slack, 0)
  u = tf.random.stateless_uniform([], seed=seed, dtype=tf.float64)
  offset = tf.floor(u * tf.cast(high - low + 1, tf.float64))
  return low + tf.cast(offset, tf.int32)


def charades_test_starts_tf(video_length, clip_length: int,
                            num_clips: int) -> tf.Tensor:
  """TensorFlow twin of `charades_test_starts_np`: int32 `(num_clips,)`."""
  if num_clips == 1:
    return tf.zeros([1], tf.int32)
  slack = tf.maximum(tf.cast(video_length, tf.float64) - clip_length, 0.0)
  gap = slack / (num_clips - 1)
  i = tf.range(num_clips, dtype=tf.float64)
  return tf.cast(tf.round(gap * i), tf.int32)  # Half to even, as Python.


def charades_clip_indices_tf(start, num_frames: int, sampling_rate: int,
                             video_length) -> tf.Tensor:
  """TensorFlow twin of `charades_clip_indices_np`: int32 `(num_frames,)`."""
  values = tf.cast(start, tf.int32) + sampling_rate * tf.range(num_frames)
  return tf.clip_by_value(values, 0, tf.cast(video_length, tf.int32) - 1)


def ssv2_segment_bounds_np(video_length: int,
                           num_frames: int) -> tuple[np.ndarray, np.ndarray]:
  """First and last stored frame (int64 `(num_frames,)` each) of the
  segments of the release's SSv2 loader (datasets/ssv2.py).

  The frames from 0 to `video_length - 1` are cut into `num_frames` equal
  segments of `(video_length - 1) / num_frames` frames; segment i runs from
  `round(size * i)` to `round(size * (i + 1))`, both ends included, with
  Python's round half to even. Neighbouring segments share their boundary.
  """
  size = float(video_length - 1) / num_frames
  i = np.arange(num_frames + 1, dtype=np.float64)
  bounds = np.round(size * i).astype(np.int64)
  return bounds[:-1], bounds[1:]


def ssv2_test_indices_np(video_length: int, num_frames: int) -> np.ndarray:
  """The SSv2 test (and validation) frames: each segment's middle frame,
  `(first + last) // 2` (int64 `(num_frames,)`)."""
  first, last = ssv2_segment_bounds_np(video_length, num_frames)
  return (first + last) // 2


def ssv2_segment_bounds_tf(video_length,
                           num_frames: int) -> tuple[tf.Tensor, tf.Tensor]:
  """TensorFlow twin of `ssv2_segment_bounds_np`: int32 `(num_frames,)`."""
  size = tf.cast(video_length - 1, tf.float64) / num_frames
  i = tf.range(num_frames + 1, dtype=tf.float64)
  bounds = tf.cast(tf.round(size * i), tf.int32)  # Half to even.
  return bounds[:-1], bounds[1:]


def ssv2_train_indices_tf(video_length, num_frames: int, seed) -> tf.Tensor:
  """A training clip of the SSv2 loader (int32 `(num_frames,)`): one frame
  drawn uniformly from each segment, its two ends included
  (`random.randint(first, last)`)."""
  first, last = ssv2_segment_bounds_tf(video_length, num_frames)
  u = tf.random.stateless_uniform([num_frames], seed=seed, dtype=tf.float64)
  offset = tf.floor(u * tf.cast(last - first + 1, tf.float64))
  return first + tf.cast(offset, tf.int32)


def ssv2_test_indices_tf(video_length, num_frames: int) -> tf.Tensor:
  """TensorFlow twin of `ssv2_test_indices_np`: int32 `(num_frames,)`."""
  first, last = ssv2_segment_bounds_tf(video_length, num_frames)
  return (first + last) // 2
