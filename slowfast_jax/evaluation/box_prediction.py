"""Action scores of given person boxes in raw videos (`predict --boxes`).

A detection model (`model.detection`, e.g. the `configs/ava_*` presets)
scores person boxes found by a person detector. The boxes come as an AVA CSV,
`video_id, timestamp, x1, y1, x2, y2[, action_id[, score]]` with the boxes
normalised to [0, 1]: the rows whose `video_id` is a video file's stem are
that video's, `timestamp` is the second from the video's start. Rows scoring
below the threshold are dropped and the rows of one second with the same box
text are one box, as the release reads its person boxes
(`ava_annotations.read_keyframes`).

Each second t with boxes is scored as the release's test mode scores an AVA
keyframe (docs/detection.md):

* the video decoded at `data.target_fps` (30, AVA's rate) with its short
  side at `data.test_crop_size` (`decode.iter_decoded`);
* the clip of `model.num_frames` frames `data.sampling_rate` apart around
  frame `round(t * fps)` (`ava_pipeline.frame_offsets`), clamped to the
  video; the whole frame, no crop;
* the boxes in the resized frame's pixels, clipped to it
  (`ava_transforms.to_pixels`);
* the scorer's output for each box, the sigmoid of its logits.

The video is decoded once, streaming: only the frames of clips not yet
complete are held. Seconds are scored in batches of a fixed number of rows,
with the boxes padded to the video's largest count and masked (padding
changes no real box's score), so one shape compiles per video. Seconds past
the video's end are not scored.
"""

import dataclasses
import math
import os
import sys
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from slowfast_jax import class_names
from slowfast_jax.data import ava_annotations
from slowfast_jax.data import ava_pipeline
from slowfast_jax.data import ava_transforms
from slowfast_jax.data import decode
from slowfast_jax.evaluation import evaluator
from slowfast_jax.evaluation import overlay
from slowfast_jax.evaluation import windows

BOX_COLOUR = (0, 255, 0)
# Clips decoded ahead of the model by the decode thread.
PREFETCH_CLIPS = 4


@dataclasses.dataclass(frozen=True)
class Detection:
  """One person box of one second and its class scores, float32
  `(classes,)`."""
  timestamp: int
  box: tuple[float, float, float, float]  # x1, y1, x2, y2, normalised.
  scores: np.ndarray


def read_person_boxes(path: str, score_threshold: float
                      ) -> dict[str, list[ava_annotations.Keyframe]]:
  """`{video_id: seconds with boxes, in time order}` of a person-box CSV.

  Rows without a score are kept. Raises `ava_annotations.AnnotationError`
  (one line naming the file, and the line of a malformed row).
  """
  keyframes = ava_annotations.read_keyframes(
      [ava_annotations.BoxFile(path, is_groundtruth=False,
                               detector_rows=True)],
      score_threshold=score_threshold, seconds=(0, sys.maxsize))
  return ava_annotations.by_video(keyframes)


def video_id(path: str) -> str:
  """The `video_id` of a video file in the box CSV: its name's stem."""
  return os.path.splitext(os.path.basename(path))[0]


def keyframe_clips(frames: Iterable[np.ndarray], keys: Sequence[int],
                   offsets: np.ndarray) -> Iterator[np.ndarray]:
  """The clips around keyframes of a stream of frames, each as soon as its
  last frame arrives.

  Args:
    frames: uint8 `(height, width, 3)` frames of a video.
    keys: keyframe indices, ascending.
    offsets: `(time,)` ascending offsets of a clip's frames from its
      keyframe (`ava_pipeline.frame_offsets`).

  Yields:
    uint8 `(time, height, width, 3)`: frames `key + offsets` clamped to the
    video, for each key inside the video (`key < L` of its `L` frames), in
    order. Only the frames of clips not yet yielded are held.
  """
  held = {}  # Frame index -> frame, from the first frame of clip k on.
  k = n = 0
  for frame in frames:
    if k < len(keys) and n >= keys[k] + offsets[0]:
      held[n] = frame
    n += 1
    while k < len(keys) and keys[k] + offsets[-1] < n:
      yield _gather(held, keys[k] + offsets, n)
      k += 1
      first = keys[k] + offsets[0] if k < len(keys) else n
      for index in [i for i in held if i < first]:
        del held[index]
  for key in keys[k:]:
    if key < n:
      yield _gather(held, key + offsets, n)


def _gather(held: dict[int, np.ndarray], indices: np.ndarray,
            num_frames: int) -> np.ndarray:
  return np.stack([held[int(i)] for i in np.clip(indices, 0, num_frames - 1)])


def box_batch(clips: Sequence[np.ndarray],
              boxes: Sequence[Sequence[Sequence[float]]], *, slots: int,
              rows: int) -> dict[str, np.ndarray]:
  """A detection model's host batch: clips and their boxes, padded.

  Args:
    clips: uint8 `(time, height, width, 3)` each, all one size.
    boxes: per clip, its `(x1, y1, x2, y2)` boxes normalised to [0, 1].
    slots: box slots per row (at least the largest count).
    rows: batch rows (at least `len(clips)`).

  Returns:
    `video` uint8 `(rows, time, height, width, 3)`, `boxes` float32 `(rows,
    slots, 4)` in the clips' pixels, clipped to the frame, `box_mask` bool
    `(rows, slots)`, `mask` bool `(rows,)`; padding is zeros and False.
  """
  height, width = clips[0].shape[1:3]
  pixels = np.zeros((len(clips), slots, 4), np.float32)
  box_mask = np.zeros((len(clips), slots), bool)
  for row, clip_boxes in enumerate(boxes):
    pixels[row, :len(clip_boxes)] = ava_transforms.to_pixels(
        np.asarray(clip_boxes, np.float32), height, width).numpy()
    box_mask[row, :len(clip_boxes)] = True
  return evaluator.pad_rows(
      {"video": np.stack(clips), "boxes": pixels, "box_mask": box_mask,
       "mask": np.ones(len(clips), bool)}, rows)


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
  """`items` in lists of `size` (the last one shorter)."""
  batch = []
  for item in items:
    batch.append(item)
    if len(batch) == size:
      yield batch
      batch = []
  if batch:
    yield batch


def predict_video(path: str, keyframes: Sequence[ava_annotations.Keyframe],
                  config, score_batch: Callable[[dict[str, np.ndarray]],
                                                np.ndarray],
                  batch_size: int) -> tuple[list[Detection], list[int]]:
  """Scores every box of one video's seconds.

  Args:
    path: the video file.
    keyframes: its seconds with boxes, in time order.
    config: the full config (`model`, `data`).
    score_batch: a `box_batch` → float32 `(rows with mask, slots, classes)`.
    batch_size: seconds per `score_batch` call.

  Returns:
    A `Detection` per box, in time order, and the seconds past the video's
    end (not scored).

  Raises:
    decode.VideoDecodeError (or another of `windows.FILE_ERRORS`): the video
    cannot be decoded.
  """
  data = config.data
  keys = [int(round(k.timestamp * data.target_fps)) for k in keyframes]
  frames = decode.iter_decoded(path, fps=data.target_fps,
                               short_side=data.test_crop_size)
  offsets = ava_pipeline.frame_offsets(config.model.num_frames,
                                       data.sampling_rate)
  clips = windows.prefetch(keyframe_clips(frames, keys, offsets),
                           PREFETCH_CLIPS)
  slots = max(len(k.boxes) for k in keyframes)
  detections, done = [], 0
  for chunk in _batches(clips, batch_size):
    seconds = keyframes[done:done + len(chunk)]
    scores = score_batch(box_batch(chunk, [k.boxes for k in seconds],
                                   slots=slots, rows=batch_size))
    detections += [Detection(k.timestamp, box, box_scores)
                   for k, row in zip(seconds, scores)
                   for box, box_scores in zip(k.boxes, row)]
    done += len(chunk)
  return detections, [k.timestamp for k in keyframes[done:]]


def detections_record(path: str, detections: Sequence[Detection],
                      names: Sequence[str], k: int) -> dict[str, Any]:
  """JSON-ready: the video and, per box, its second, box and top-k."""
  return {"video": path, "detections": [
      {"timestamp": d.timestamp, "box": list(d.box),
       "top": [{"class": n, "score": s}
               for n, s in class_names.top_k(d.scores, names, k)]}
      for d in detections]}


def format_record(record: dict[str, Any]) -> list[str]:
  """Text lines: the video, then `m:ss  (x1,y1,x2,y2)  score name | ...`."""
  lines = [record["video"]]
  for detection in record["detections"]:
    minutes, seconds = divmod(detection["timestamp"], 60)
    box = ",".join(f"{v:.3f}" for v in detection["box"])
    top = " | ".join(f"{t['score']:.3f} {t['class']}"
                     for t in detection["top"])
    lines.append(f"  {minutes}:{seconds:02d}  ({box})  {top}")
  return lines


def _draw_detection(frame: np.ndarray, detection: dict[str, Any],
                    label: overlay.Label) -> np.ndarray:
  """`frame` with the detection's box and its label above it."""
  height, width = frame.shape[:2]
  x1, y1, x2, y2 = np.clip(
      np.asarray(detection["box"]) * [width, height, width, height], 0,
      [width - 1, height - 1, width - 1, height - 1])
  frame = overlay.draw_box(frame, (x1, y1, x2, y2), BOX_COLOUR)
  return overlay.draw_label(frame, label,
                            top=max(int(y1) - label[0].shape[0], 0),
                            left=int(x1))


def overlay_frames(record: dict[str, Any], k: int) -> Iterator[np.ndarray]:
  """Every source frame (source size) with the boxes of the nearest second
  with detections (within ±0.5 s) and their top-k classes above them."""
  by_second = {}
  for detection in record["detections"]:
    by_second.setdefault(detection["timestamp"], []).append(detection)
  rate = overlay.source_rate(record["video"])
  labels = {}  # (second, box) -> label.
  for i, frame in enumerate(decode.iter_decoded(record["video"], fps=None,
                                                short_side=None)):
    second = math.floor(i / rate + 0.5)
    for j, detection in enumerate(by_second.get(second, ())):
      if (second, j) not in labels:
        labels[second, j] = overlay.label_image(
            [f"{t['score']:.2f} {t['class']}" for t in detection["top"][:k]],
            frame.shape[0])
      frame = _draw_detection(frame, detection, labels[second, j])
    yield frame


def write_overlay(record: dict[str, Any], path: str, *, k: int = 3) -> int:
  """Writes the video with each box's top-k classes drawn (H.264 mp4).

  Same frame count and frame rate as the source (`overlay.write_video`).
  Returns the number of frames written.
  """
  return overlay.write_video(overlay_frames(record, k), path,
                             overlay.source_rate(record["video"]))


def mode_error(detection: bool, checkpoint: str, *, boxes: str | None,
               timeline: bool) -> str | None:
  """Why `--boxes` or `--timeline`/`--plot` (`timeline`) do not fit a
  detection (or classification) checkpoint; None if they fit."""
  if detection and not boxes:
    return (f"--checkpoint {checkpoint} is a detection model "
            "(model.detection): give the person boxes with --boxes FILE.csv.")
  if detection and timeline:
    return (f"--checkpoint {checkpoint} is a detection model: --timeline and "
            "--plot are for classification models; use --boxes.")
  if not detection and boxes:
    return (f"--boxes needs a detection model (model.detection); --checkpoint "
            f"{checkpoint} is a classification model.")
  return None
