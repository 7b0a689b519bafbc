"""Frames of an AVA movie at 30 fps, from the movie file or extracted JPEGs.

Frame `i` of a movie is the one shown at `i / fps` seconds (AVA: second `s`
is frame `30 s`). Both readers yield `(i, frame)` for requested indices in
increasing order, `frame` uint8 RGB `(height, width, 3)` with the short side
resized, or a `str` saying why that frame is unusable; they stop early when
the movie has no more frames. No TensorFlow (runs in worker processes).
"""

import glob
import os
from typing import Iterable, Iterator

import av
import numpy as np
from PIL import Image

from slowfast_jax.data import decode

Frames = Iterator[tuple[int, np.ndarray | str]]


class _SeekError(Exception):
  """Seeking landed after a requested frame."""


def find_movie(video_dir: str, video_id: str) -> str | None:
  """`video_dir/video_id.*` (AVA movies are .mkv, .mp4 or .webm)."""
  matches = sorted(p for p in glob.glob(os.path.join(
      glob.escape(video_dir), glob.escape(video_id) + ".*"))
                   if ".tmp-" not in p)
  return matches[0] if matches else None


def _to_rgb(frame: av.VideoFrame, short_side: int) -> np.ndarray:
  height, width = frame.height, frame.width
  if short_side:
    height, width = decode.resized_shape(height, width, short_side)
  return frame.to_ndarray(width=width, height=height, format="rgb24")


def movie_frames(path: str, indices: Iterable[int], *, fps: float,
                 short_side: int) -> Frames:
  """Frames `indices` (sorted) of a movie file, nearest decoded frame.

  Seeks to a second before the first index, then decodes forward. After a
  decoding error the remaining indices are yielded with the error's text.
  """
  wanted = list(indices)
  if not wanted:
    return
  try:
    container = av.open(path)
  except (av.FFmpegError, OSError, ValueError) as e:
    for i in wanted:
      yield i, f"cannot open {os.path.basename(path)}: {e}"
    return
  with container:
    if not container.streams.video:
      for i in wanted:
        yield i, f"{os.path.basename(path)} has no video stream"
      return
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    origin = float(stream.start_time * stream.time_base) if (
        stream.start_time is not None and stream.time_base) else 0.0
    seek = wanted[0] / fps - 1.0
    position = 0  # Next entry of `wanted`.
    previous = None  # (time, frame)
    try:
      if seek > 0 and stream.time_base:
        container.seek(int((seek + origin) / stream.time_base), stream=stream,
                       backward=True)
      for frame in container.decode(stream):
        if frame.time is None:
          continue
        t = frame.time - origin
        if previous is not None:
          midpoint = (previous[0] + t) / 2
          while position < len(wanted) and wanted[position] / fps <= midpoint:
            yield wanted[position], _to_rgb(previous[1], short_side)
            position += 1
        elif position < len(wanted) and wanted[position] / fps < t - 1.0 / fps:
          # Seeked past the target (a bad index): stop rather than guess.
          raise _SeekError(f"no frame near {wanted[position] / fps:.2f} s")
        previous = (t, frame)
        if position == len(wanted):
          return
    except (av.FFmpegError, _SeekError) as e:
      reason = f"decoding {os.path.basename(path)} failed: {e}"
      for i in wanted[position:]:
        yield i, reason
      return
    if previous is not None:  # The last frame lasts one frame period.
      while (position < len(wanted) and
             wanted[position] / fps < previous[0] + 0.5 / fps + 1e-6):
        yield wanted[position], _to_rgb(previous[1], short_side)
        position += 1


def frame_file(frame_dir: str, video_id: str, number: int) -> str:
  """The release's extracted frame `video_id/video_id_NNNNNN.jpg` (1-based)."""
  return os.path.join(frame_dir, video_id, f"{video_id}_{number:06d}.jpg")


def folder_frames(frame_dir: str, video_id: str, indices: Iterable[int], *,
                  first_index: int, short_side: int) -> Frames:
  """Frames `indices` from extracted JPEGs; file 1 is frame `first_index`.

  Stops at the first index past the last file; a missing or undecodable file
  inside the movie gives its reason.
  """
  folder = os.path.join(frame_dir, video_id)
  numbers = [int(name[len(video_id) + 1:-4]) for name in os.listdir(folder)
             if name.startswith(video_id + "_") and name.endswith(".jpg")
             and name[len(video_id) + 1:-4].isdigit()]
  last = max(numbers, default=0)
  for i in indices:
    number = i - first_index + 1
    if number > last:
      return
    path = frame_file(frame_dir, video_id, number)
    name = os.path.basename(path)
    if number < 1 or not os.path.exists(path):
      yield i, f"missing frame {name}"
      continue
    try:
      with Image.open(path) as image:
        image = image.convert("RGB")
        if short_side:
          height, width = decode.resized_shape(image.height, image.width,
                                               short_side)
          image = image.resize((width, height), Image.Resampling.BILINEAR)
        yield i, np.asarray(image)
    except (OSError, ValueError, SyntaxError) as e:
      yield i, f"corrupt frame {name}: {e}"
