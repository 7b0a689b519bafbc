r"""Predictions on raw video files: top classes, over time, or per person.

Top-5 classes with the release's multi-view test:

  python -m slowfast_jax.predict --checkpoint DIR video1.mp4 video2.mov \
      [--json] [--labels FILE] [--config configs/NAME.py] [--config.F=V]

Videos are decoded directly with PyAV (any size and frame rate), resampled to
`config.data.target_fps`, and cut into `config.eval.num_clips` ×
`config.eval.num_crops` views exactly as `eval.py` cuts prepared videos; the
views' scores are combined as `eval.py` combines them (`config.eval.ensemble`:
the sum, or the element-wise max of a Charades checkpoint's sigmoid scores)
and printed as probabilities (a sum divided by the views). Class names come
from `--labels`, the checkpoint's metadata, or (400 classes) the Kinetics-400
names. A file that cannot be read is reported on one line; the others are
still predicted and the exit status is 1. The config stored with the
checkpoint is used unless `--config` replaces it (as in `eval.py`); a
checkpoint that cannot be used is reported on one line (exit status 1).

Over time (long videos):

  python -m slowfast_jax.predict --checkpoint DIR --timeline \
      [--json] [--plot chart.png] [--overlay out.mp4] \
      [--window_frames N] [--stride_seconds S] video.mp4

prints the top-k classes of each sliding window (the windows of `extract`,
`slowfast_jax.evaluation.windows`; each window is one view scored with the
release's test output), with start and end times; `--plot` writes a timeline
chart, `--overlay` the video with the current top classes drawn on it.

Actions of people (a detection checkpoint, `model.detection`, e.g. trained
from `configs/ava_slowfast_32x2_r50_short.py`):

  python -m slowfast_jax.predict --checkpoint DIR --boxes BOXES.csv \
      [--json] [--overlay out.mp4] [--top_k K] [--labels LABEL_MAP.pbtxt] \
      [--score_threshold S] [--batch B] video.mp4

scores the person boxes of `BOXES.csv` (AVA format: `video_id, timestamp,
x1, y1, x2, y2[, action_id[, score]]`, normalised; a video's rows are those
whose video_id is its file's stem, timestamp the second from its start) as
the release's AVA test scores a keyframe (`slowfast_jax.evaluation.
box_prediction`), and prints the top-k actions of every box of every second;
`--overlay` writes the video with the boxes and their top actions drawn. A
video that cannot be read or has no boxes is reported on one line (exit
status 1); so is a missing or malformed box file (file and line named).
"""

import json
import os
import sys
from typing import Any, Sequence

from absl import app
from absl import flags
import numpy as np

from slowfast_jax import checkpoint_flags
from slowfast_jax.evaluation import window_flags

_TIMELINE_HELP = ("Top classes per sliding window (--window_frames, "
                  "--stride_seconds, ...) instead of per video.")
_PLOT_HELP = "Write a timeline chart PNG here (implies --timeline)."
_OVERLAY_HELP = ("Write the video with the current top classes drawn on it "
                 "here, .mp4 (implies --timeline; with --boxes: the boxes "
                 "and their top classes).")
_BOXES_HELP = ("Person boxes CSV for a detection checkpoint: video_id, "
               "timestamp, x1, y1, x2, y2[, action_id[, score]], normalised "
               "(a video's id is its file's stem).")
_SCORE_THRESHOLD_HELP = ("With --boxes: drop boxes scoring below this "
                         "(default: the config's data.detection_score_thresh).")
_JSON = flags.DEFINE_bool("json", False, "Print one JSON object per line.")
_LABELS = flags.DEFINE_string(
    "labels", None, "Class names file (text, JSON, AVA label map .pbtxt).")
_TOP_K = flags.DEFINE_integer("top_k", 5,
                              "Classes to print per video, window or box.")
_TIMELINE = flags.DEFINE_bool("timeline", False, _TIMELINE_HELP)
_PLOT = flags.DEFINE_string("plot", None, _PLOT_HELP)
_OVERLAY = flags.DEFINE_string("overlay", None, _OVERLAY_HELP)
_BOXES = flags.DEFINE_string("boxes", None, _BOXES_HELP)
_SCORE_THRESHOLD = flags.DEFINE_float("score_threshold", None,
                                      _SCORE_THRESHOLD_HELP)


def make_batch_scorer(config, variables):
  """`score(host_batch) -> scores` of the batch's rows with `mask`.

  The evaluator's pieces on one host: `scorer.make_scorer` over the local
  devices, `evaluator.score_host_batch` for the padding. A host batch has
  `video` uint8 `(batch, time, height, width, 3)` and `mask` bool `(batch,)`
  (and a detection model's `boxes`, `box_mask`); the scores are `(rows,
  classes)`, or `(rows, max_boxes, classes)` for a detection model.
  """
  from slowfast_jax import sharding  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import evaluator  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import scorer  # pylint: disable=g-import-not-at-top

  mesh = sharding.make_mesh()
  score_views = scorer.make_scorer(config.model, config.data, mesh)
  variables = sharding.replicate(variables, mesh)

  def score(host_batch: dict[str, np.ndarray]) -> np.ndarray:
    out = evaluator.score_host_batch(score_views, variables, host_batch, mesh)
    return out["scores"][out["mask"]]

  return score


def make_view_scorer(config, variables):
  """`score(views uint8 (views, T, crop, crop, 3)) -> (views, classes)`."""
  score_batch = make_batch_scorer(config, variables)
  return lambda views: score_batch(
      {"video": views, "mask": np.ones(len(views), bool)})


def make_video_scorer(config, variables):
  """`score(views uint8 (views, T, crop, crop, 3)) -> (classes,)`.

  The views' scores combined by `config.eval.ensemble` as `eval.py` combines
  them (`metrics.ensemble_views`: sum or max), as probabilities
  (`metrics.as_probabilities`: a sum divided by the number of views).
  """
  from slowfast_jax.evaluation import metrics  # pylint: disable=g-import-not-at-top
  score_views = make_view_scorer(config, variables)
  ensemble = config.eval.ensemble

  def score(views: np.ndarray) -> np.ndarray:
    scores = score_views(views)
    return metrics.as_probabilities(
        metrics.ensemble_views(scores, ensemble), ensemble, len(scores))

  return score


def predict_file(path: str, config, score) -> np.ndarray:
  """The video score `(classes,)` of one video file (`score` from
  `make_video_scorer`)."""
  from slowfast_jax.data import decode  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import views as views_lib  # pylint: disable=g-import-not-at-top
  num_crops = config.eval.num_crops
  frames = decode.decode_video(
      path, fps=config.data.target_fps,
      short_side=views_lib.test_short_side(config.data, num_crops))
  views = decode.multi_view_clips_for_config(
      frames, config, num_clips=config.eval.num_clips, num_crops=num_crops)
  return score(views)


def top_classes(scores: np.ndarray, names: Sequence[str], k: int
                ) -> list[tuple[str, float]]:
  """The k best `(name, score)` pairs of `scores` `(classes,)`, best first."""
  order = np.argsort(-scores, kind="stable")[:k]
  return [(names[i], float(scores[i])) for i in order]


def per_video_path(path: str, video: str, num_videos: int) -> str:
  """`path` for one video; `ROOT.VIDEO_STEM.EXT` when there are several."""
  if num_videos == 1:
    return path
  root, ext = os.path.splitext(path)
  return f"{root}.{os.path.splitext(os.path.basename(video))[0]}{ext}"


def predict_timelines(videos: Sequence[str], config, variables,
                      names: Sequence[str]) -> int:
  """`--timeline`: top-k per window of each video (text or `--json`), and
  the `--plot` chart and `--overlay` video. Returns the exit status."""
  from slowfast_jax.evaluation import timeline  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import windows  # pylint: disable=g-import-not-at-top
  spec = window_flags.spec_from_flags(config)
  failures = 0
  for result in windows.iter_video_outputs(
      videos, spec, make_view_scorer(config, variables),
      batch_size=window_flags.BATCH.value):
    if isinstance(result, windows.VideoFailure):
      failures += 1
      _print_error(f"{result.path}: {result.reason}")
      continue
    record = timeline.timeline_record(result, names, _TOP_K.value)
    text = (json.dumps(record) if _JSON.value
            else "\n".join(timeline.format_record(record)))
    print(text, flush=True)
    if _PLOT.value:
      path = per_video_path(_PLOT.value, result.path, len(videos))
      timeline.plot_timeline(result, names, path)
      print(f"wrote {path}", file=sys.stderr, flush=True)
    if _OVERLAY.value:
      path = per_video_path(_OVERLAY.value, result.path, len(videos))
      timeline.write_overlay(result, names, path, k=min(_TOP_K.value, 3))
      print(f"wrote {path}", file=sys.stderr, flush=True)
  return 1 if failures else 0


def predict_boxes(videos: Sequence[str], config, variables,
                  names: Sequence[str]) -> int:
  """`--boxes`: top-k per box and second of each video (text or `--json`),
  and the `--overlay` videos. Returns the exit status."""
  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import ava_annotations
  from slowfast_jax.evaluation import box_prediction
  from slowfast_jax.evaluation import windows
  # pylint: enable=g-import-not-at-top
  threshold = _SCORE_THRESHOLD.value
  if threshold is None:
    threshold = config.data.detection_score_thresh
  try:
    boxes = box_prediction.read_person_boxes(_BOXES.value, threshold)
  except ava_annotations.AnnotationError as error:
    _print_error(str(error))
    return 1
  score_batch = make_batch_scorer(config, variables)
  failures = 0
  for path in videos:
    keyframes = boxes.get(box_prediction.video_id(path))
    if not keyframes:
      failures += 1
      _print_error(f"{path}: no boxes in {_BOXES.value} for video_id "
                   f"{box_prediction.video_id(path)!r} (score >= {threshold})")
      continue
    try:
      detections, past_end = box_prediction.predict_video(
          path, keyframes, config, score_batch, window_flags.BATCH.value)
    except windows.FILE_ERRORS as error:
      failures += 1
      _print_error(f"{path}: {windows.one_line_reason(error, path)}")
      continue
    if past_end:
      print(f"warning: {path}: boxes past the end of the video, not scored: "
            f"{', '.join(f'{t} s' for t in past_end)}", file=sys.stderr)
    record = box_prediction.detections_record(path, detections, names,
                                              _TOP_K.value)
    print(json.dumps(record) if _JSON.value
          else "\n".join(box_prediction.format_record(record)), flush=True)
    if _OVERLAY.value:
      out = per_video_path(_OVERLAY.value, path, len(videos))
      box_prediction.write_overlay(record, out, k=min(_TOP_K.value, 3))
      print(f"wrote {out}", file=sys.stderr, flush=True)
  return 1 if failures else 0


def _print_error(message: str) -> None:
  print(f"error: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str]) -> int:
  videos = list(argv[1:])
  if not videos:
    raise app.UsageError("Give one or more video files.")
  from slowfast_jax import class_names  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import decode  # pylint: disable=g-import-not-at-top
  from slowfast_jax.evaluation import box_prediction  # pylint: disable=g-import-not-at-top

  config, variables, metadata = checkpoint_flags.restore_or_exit()
  problem = box_prediction.mode_error(
      config.model.detection, checkpoint_flags.CHECKPOINT.value,
      boxes=_BOXES.value, timeline=_TIMELINE.value or _PLOT.value)
  if problem:
    _print_error(problem)
    return 1
  names = class_names.resolve(config.model.num_classes,
                              labels_file=_LABELS.value, metadata=metadata)
  if config.model.detection:
    return predict_boxes(videos, config, variables, names)
  if _TIMELINE.value or _PLOT.value or _OVERLAY.value:
    return predict_timelines(videos, config, variables, names)
  score = make_video_scorer(config, variables)
  failures = 0
  for path in videos:
    try:
      scores = predict_file(path, config, score)
    except (decode.VideoDecodeError, OSError) as error:
      failures += 1
      _print_error(str(error) if path in str(error) else f"{path}: {error}")
      continue
    best = top_classes(scores, names, _TOP_K.value)
    if _JSON.value:
      record: dict[str, Any] = {
          "video": path, "top": [{"class": n, "score": s} for n, s in best]}
      print(json.dumps(record), flush=True)
    else:
      print(path)
      for name, value in best:
        print(f"  {value:6.3f}  {name}")
      sys.stdout.flush()
  return 1 if failures else 0


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)))
