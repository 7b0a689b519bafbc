"""The per-movie work of `ava_prepare`: one movie's keyframes -> one shard.

Runs in a worker process: reads the frames the movie's keyframes need (in
time order, each once), encodes them as JPEG and writes the shard. A
keyframe whose window has a missing or unreadable frame is skipped with the
reason; frames past the movie's end repeat its last frame (the release
clamps the same way), unless the keyframe itself is past the end.
"""

import dataclasses
import os

import numpy as np
from PIL import Image

from slowfast_jax.data import ava_frames
from slowfast_jax.data import prepare_worker


@dataclasses.dataclass(frozen=True)
class Task:
  """One movie to prepare.

  Attributes:
    keyframes: the movie's `ava_annotations.Keyframe`s, in time order.
    movie: the movie file, or None to read `frame_dir`.
    frame_dir: folder of extracted frames (`video_id/video_id_NNNNNN.jpg`).
    first_index: frame index of extracted frame 1 (release: 900 s * 30).
    window: frames stored per keyframe, keyframe at `window // 2`.
    path: the shard to write.
  """
  video_id: str
  keyframes: tuple
  movie: str | None
  frame_dir: str | None
  first_index: int
  window: int
  fps: float
  short_side: int
  jpeg_quality: int
  path: str


@dataclasses.dataclass
class Result:
  examples: int = 0
  bytes: int = 0
  skipped: list = dataclasses.field(default_factory=list)  # (id, sec, why)
  max_boxes: int = 0
  timestamps: list = dataclasses.field(default_factory=list)  # Written, in order.
  # [[height, width]] of the stored frames (empty if none): later frames of
  # another size are resized to the first one's.
  frame_sizes: list = dataclasses.field(default_factory=list)
  source_bytes: int = 0


def _window(task: Task, keyframe) -> tuple[int, list[int]]:
  key = int(round(keyframe.timestamp * task.fps))
  start = key - task.window // 2
  lowest = 0 if task.movie else task.first_index
  return key, [max(i, lowest) for i in range(start, start + task.window)]


def _reader(task: Task, needed):
  if task.movie:
    return ava_frames.movie_frames(task.movie, needed, fps=task.fps,
                                   short_side=task.short_side)
  return ava_frames.folder_frames(task.frame_dir, task.video_id, needed,
                                  first_index=task.first_index,
                                  short_side=task.short_side)


def _example(keyframe, key_index: int, jpegs) -> dict:
  label_box = [b for b, ids in enumerate(keyframe.labels) for _ in ids]
  label_id = [i for ids in keyframe.labels for i in ids]
  return {
      "video": jpegs, "key_index": key_index, "video_id": keyframe.video_id,
      "timestamp": keyframe.timestamp,
      "boxes": np.asarray(keyframe.boxes, np.float32).reshape(-1, 4),
      "label_box": np.asarray(label_box, np.int64),
      "label_id": np.asarray(label_id, np.int64),
  }


def process_movie(task: Task) -> Result:
  """Writes `task.path` (possibly empty) and says what was skipped."""
  from slowfast_jax.data import ava_builder  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import builder  # pylint: disable=g-import-not-at-top
  result, records = Result(), []
  windows = [(k, *_window(task, k)) for k in task.keyframes]
  missing = None
  if task.movie is None and not os.path.isdir(
      os.path.join(task.frame_dir, task.video_id)):
    missing = f"no frame folder {task.video_id}/ in {task.frame_dir}"
  elif task.movie is not None and not os.path.exists(task.movie):
    missing = f"movie {task.movie} not found"
  if missing:
    result.skipped = [(task.video_id, "", f"{missing} ({len(windows)} "
                       "keyframes)")]
    result.bytes = builder.write_records(task.path, [])
    return result
  if task.movie:
    result.source_bytes = os.path.getsize(task.movie)
  needed = sorted({i for _, _, indices in windows for i in indices})
  frames = _reader(task, needed)
  cache, last, exhausted = {}, None, False
  spec = ava_builder.features()
  size = None  # (height, width) of the movie's first frame.
  for keyframe, key, indices in windows:
    while not exhausted and (last is None or last < indices[-1]):
      try:
        i, frame = next(frames)
      except StopIteration:
        exhausted = True
        break
      if isinstance(frame, str):
        cache[i] = frame
      else:
        size = size or frame.shape[:2]
        if frame.shape[:2] != size:  # One frame size per movie.
          frame = np.asarray(Image.fromarray(frame).resize(
              (size[1], size[0]), Image.Resampling.BILINEAR))
        cache[i] = prepare_worker.encode_jpeg(frame, task.jpeg_quality)
        if task.movie is None:
          result.source_bytes += os.path.getsize(ava_frames.frame_file(
              task.frame_dir, task.video_id, i - task.first_index + 1))
      last = i
    for i in [i for i in cache if i < indices[0]]:
      del cache[i]
    if last is None or key > last:
      end = ("no frames" if last is None else
             f"frames end at {last / task.fps:.2f} s")
      result.skipped.append((keyframe.video_id, keyframe.timestamp,
                             f"keyframe past the movie's end ({end})"))
      continue
    jpegs = [cache.get(min(i, last), f"frame {min(i, last)} not decoded")
             for i in indices]
    reason = next((j for j in jpegs if isinstance(j, str)), None)
    if reason:
      result.skipped.append((keyframe.video_id, keyframe.timestamp, reason))
      continue
    records.append(spec.serialize_example(
        _example(keyframe, key - indices[0], jpegs)))
    result.timestamps.append(keyframe.timestamp)
    result.max_boxes = max(result.max_boxes, len(keyframe.boxes))
  result.examples = len(records)
  result.frame_sizes = [list(size)] if size else []
  result.bytes = builder.write_records(task.path, records)
  return result
