"""Decoding raw video files with PyAV: fixed frame rate, short-side resize.

Used by `prepare` (in worker processes, so this module imports no
TensorFlow at load time) and by tools that run on raw videos without a
prepared dataset (`multi_view_clips`).
"""

import os
from typing import Iterator

import av
import numpy as np


class VideoDecodeError(Exception):
  """A video could not be decoded; the message starts with its path."""

  def __init__(self, path, reason: str):
    super().__init__(f"{os.fspath(path)}: {reason}")
    self.path = os.fspath(path)
    self.reason = reason


def resized_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
  """`(height, width)` with the short side `short_side`, long side floored.

  Same rule as the release's short-side resize (and `transforms`).
  """
  if min(height, width) == short_side:
    return height, width
  if width < height:
    return int(np.floor(height / width * short_side)), short_side
  return short_side, int(np.floor(width / height * short_side))


def _timed_frames(container, stream) -> Iterator[tuple[float, av.VideoFrame]]:
  """Decoded frames with their presentation time in seconds."""
  rate = stream.average_rate or stream.guessed_rate
  step = 1.0 / float(rate) if rate else 1.0 / 30.0
  previous = None
  for frame in container.decode(stream):
    t = frame.time
    if t is None:  # No timestamps: assume a constant rate.
      t = 0.0 if previous is None else previous + step
    previous = t
    yield t, frame


def _resample(timed_frames, fps: float | None):
  """Nearest-frame resampling to `fps`, streaming.

  Output frame k shows the source frame whose time is nearest to
  `t0 + k / fps` (ties: the earlier one), for k < round(duration * fps): a
  25 fps source repeats every fifth frame, a 60 fps one drops every other.
  Yields each kept source frame with how many times it repeats.
  """
  first_time = None
  previous = None  # (time, frame)
  emitted = 0
  last_gap = None
  for t, frame in timed_frames:
    if first_time is None:
      first_time = t
    if fps is None:
      yield frame, 1
      continue
    if previous is not None:
      last_gap = t - previous[0]
      midpoint = (previous[0] + t) / 2 - first_time
      count = 0
      while emitted / fps <= midpoint + 1e-9:
        emitted += 1
        count += 1
      if count:
        yield previous[1], count
    previous = (t, frame)
  if fps is None or previous is None:
    return
  # The last source frame lasts one source frame period.
  period = last_gap if last_gap and last_gap > 0 else 1.0 / fps
  duration = previous[0] - first_time + period
  total = max(1, int(round(duration * fps)))
  if total > emitted:
    yield previous[1], total - emitted


def iter_decoded(path, *, fps: float | None = 30.0,
                 short_side: int | None = 320,
                 interpolation: str = "BILINEAR") -> Iterator[np.ndarray]:
  """Yields RGB uint8 frames `(height, width, 3)` of a video file.

  Args:
    path: video file.
    fps: resample to this constant frame rate (nearest frame); None keeps
      every source frame.
    short_side: resize so the short side is this (long side floored, as the
      release resizes); None or 0 keeps the size.
    interpolation: swscale filter for the resize (PyAV name).

  Raises:
    VideoDecodeError: missing, empty, undecodable or truncated file, or no
      video stream. Raised while iterating.
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise VideoDecodeError(path, "file not found")
  if os.path.getsize(path) == 0:
    raise VideoDecodeError(path, "empty file (0 bytes)")
  try:
    container = av.open(path)
  except (av.FFmpegError, OSError, ValueError) as e:
    raise VideoDecodeError(path, f"cannot open: {e}") from e
  decoded = 0
  last_time = 0.0
  with container:
    if not container.streams.video:
      raise VideoDecodeError(path, "no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # Frame threading: faster decoding.
    size = None
    try:
      timed = _timed_frames(container, stream)

      def counting():
        nonlocal decoded, last_time
        for t, frame in timed:
          decoded += 1
          last_time = t
          yield t, frame

      for frame, repeats in _resample(counting(), fps):
        if size is None:
          size = (frame.height, frame.width)
          if short_side:
            size = resized_shape(frame.height, frame.width, short_side)
        rgb = frame.to_ndarray(width=size[1], height=size[0], format="rgb24",
                               interpolation=interpolation)
        for _ in range(repeats):
          yield rgb
    except av.FFmpegError as e:
      raise VideoDecodeError(
          path, f"decoding failed after {decoded} frames: {e}") from e
    if decoded == 0:
      raise VideoDecodeError(path, "no decodable frames")
    declared = _declared_duration(container, stream)
    if declared and last_time < 0.5 * declared - 1.0:
      raise VideoDecodeError(
          path, f"truncated: frames stop at {last_time:.2f} s of a declared "
          f"{declared:.2f} s")


def _declared_duration(container, stream) -> float | None:
  if stream.duration and stream.time_base:
    return float(stream.duration * stream.time_base)
  if container.duration:
    return container.duration / 1e6  # av.time_base: microseconds.
  return None


def decode_video(path, *, fps: float | None = 30.0,
                 short_side: int | None = 320) -> np.ndarray:
  """Decodes a whole video: uint8 `(frames, height, width, 3)`, RGB.

  See `iter_decoded` for the arguments. Raises `VideoDecodeError` (message
  starts with the file's path) on any failure.
  """
  frames = list(iter_decoded(path, fps=fps, short_side=short_side))
  return np.stack(frames)


def multi_view_clips(frames: np.ndarray, *, num_frames: int,
                     sampling_rate: int, num_clips: int, num_crops: int,
                     crop_size: int, short_side: int, target_fps: float = 30.0,
                     fps: float = 30.0, clip_sampling: str = "kinetics",
                     single_crop: str = "center") -> np.ndarray:
  """The release's test views of a decoded video, as the eval pipeline makes.

  `num_clips` windows spaced uniformly over the video (each `num_frames`
  frames, `sampling_rate` apart at `target_fps`), times `num_crops` crops of
  `crop_size` after resizing the short side to `short_side`. Runs the same
  TensorFlow functions as `pipeline.make_eval_dataset`, so for frames
  decoded by `decode_video(fps=target_fps, short_side=<prepare's>)` the views
  equal the eval pipeline's up to JPEG compression.

  Args:
    frames: uint8 `(frames, height, width, 3)` at `fps` frames per second.
    short_side: release: `test_crop_size` with 3 crops,
      `train_jitter_scales[0]` with 1.
    clip_sampling: "kinetics", "charades" or "ssv2" (`views.test_indices`).
    single_crop: "center" or "first" (`views.test_views`).

  Returns:
    uint8 `(num_clips * num_crops, num_frames, crop_size, crop_size, 3)`,
    view v = temporal clip `v // num_crops`, spatial crop `v % num_crops`.
  """
  from slowfast_jax.data import views  # pylint: disable=g-import-not-at-top
  out = views.test_views(
      views.array_source(frames), num_frames=num_frames, sampling_rate=sampling_rate, num_clips=num_clips,
      num_crops=num_crops, crop_size=crop_size, short_side=short_side,
      target_fps=target_fps, fps=fps, clip_sampling=clip_sampling,
      single_crop=single_crop)
  return out.numpy()


def multi_view_clips_for_config(frames: np.ndarray, config, *,
                                num_clips: int, num_crops: int) -> np.ndarray:
  """`multi_view_clips` with the sizes of a full config (`model`, `data`).

  Frames must be at `config.data.target_fps`.
  """
  from slowfast_jax.data import views  # pylint: disable=g-import-not-at-top
  return multi_view_clips(
      frames, num_frames=config.model.num_frames,
      sampling_rate=config.data.sampling_rate, num_clips=num_clips,
      num_crops=num_crops, crop_size=config.data.test_crop_size,
      short_side=views.test_short_side(config.data, num_crops),
      target_fps=config.data.target_fps, fps=config.data.target_fps,
      clip_sampling=config.data.get("clip_sampling", "kinetics"),
      single_crop=config.data.get("single_test_crop", "center"))
