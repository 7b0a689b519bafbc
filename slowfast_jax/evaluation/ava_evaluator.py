"""The detection evaluator: per-box scores of every keyframe → frame-level mAP.

The release's AVA test (AVAMeter, `ava_eval_helper.evaluate_ava`): every
keyframe of the split is scored once (the whole frame, `ava_pipeline`'s
"test" mode; the centre crop of every fourth second in its "val" mode during
training); each person box gets the sigmoid score of every class; the boxes
with their scores become AVA detection rows, one per (box, label-map class),
and `ava_metrics.evaluate` gives the frame-level AP per class at IoU 0.5 and
their mean. In "val" mode the ground truth is cut to the same seconds (the
release's mini ground truth) unless `data.full_test_on_val`.

Sharding as in `evaluator`: the scorer runs on batches split over the mesh,
every host feeds its share of the keyframes (`make_eval_dataset`), the
scores come back replicated, and video ids are gathered from the hosts. Rows
are put in split order before matching, so the result does not depend on the
number of hosts.
"""

import dataclasses
import os
import time
from typing import Any, Callable, Iterable, Mapping

from absl import logging
from etils import epath
import jax
from jax.sharding import Mesh
import ml_collections
import numpy as np
import tqdm

from slowfast_jax import sharding
from slowfast_jax.data import ava_builder
from slowfast_jax.evaluation import ava_metrics
from slowfast_jax.evaluation import evaluator

# Fields of an eval batch (`ava_pipeline.make_eval_dataset`) that go to the
# devices; `video_id` (strings) stays on the host.
BATCH_KEYS = ("video", "boxes", "box_mask", "mask", "keyframe_index",
              "timestamp", "normalised_boxes")
DETECTIONS_FILE = "detections.csv"


@dataclasses.dataclass
class DetectionResult:
  """Metrics and detection rows of one evaluation."""
  metrics: dict[str, Any]  # mean_ap, per_class_ap, num_keyframes, ...
  detections: ava_metrics.BoxTable  # One row per (box, label-map class).


@dataclasses.dataclass(frozen=True)
class GroundTruth:
  """The evaluation files `ava_prepare` copied next to the data."""
  label_map: dict[int, str]
  boxes: ava_metrics.BoxTable
  excluded: frozenset[str]


def read_ground_truth(config: ml_collections.ConfigDict,
                      split: str) -> GroundTruth:
  """Label map, `split`'s ground truth and exclusions of `config.data`."""
  data = config.data
  path = lambda kind: ava_builder.evaluation_file(data.data_dir, data.name,
                                                  kind, split)
  if not os.path.exists(path("groundtruth")):
    raise FileNotFoundError(
        f"{path('groundtruth')}: split {split!r} of {data.name!r} has no "
        "ground truth (prepare copies config.data.groundtruth_file for "
        "'val'); evaluate --split val.")
  label_map = ava_metrics.read_label_map(path("label_map"))
  excluded = (ava_metrics.read_excluded(path("excluded"))
              if os.path.exists(path("excluded")) else set())
  boxes = ava_metrics.read_boxes(path("groundtruth"), with_scores=False,
                                 class_ids=label_map)
  return GroundTruth(label_map, boxes, frozenset(excluded))


def mini_ground_truth(groundtruth: GroundTruth) -> GroundTruth:
  """The seconds divisible by 4 (release `get_ava_mini_groundtruth`)."""
  seconds = np.asarray([int(k.split(",")[1]) for k in groundtruth.boxes.keys],
                       np.int64)
  return dataclasses.replace(
      groundtruth, boxes=groundtruth.boxes.select(seconds % 4 == 0))


def score_keyframes(score: Callable[..., Mapping[str, jax.Array]],
                    variables: Any,
                    batches: Iterable[Mapping[str, np.ndarray]], *,
                    mesh: Mesh, num_batches: int | None = None,
                    progress: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Scores every box of every host's keyframes.

  Returns `(keys, boxes, scores)` of all hosts' real boxes in split order:
  str `(boxes,)` frame keys, `(boxes, 4)` normalised boxes and `(boxes,
  classes)` sigmoid scores (the same on every host). A collective.
  """
  rows = {"keyframe_index": [], "timestamp": [], "boxes": [], "scores": []}
  local_ids = {}
  bar = tqdm.tqdm(total=num_batches, desc="eval", unit="batch",
                  disable=not progress or jax.process_index() != 0)
  with bar:
    for host_batch in batches:
      local_ids.update(evaluator.local_video_ids(host_batch,
                                                 "keyframe_index"))
      out = evaluator.score_host_batch(
          score, variables, {k: np.asarray(host_batch[k]) for k in BATCH_KEYS},
          mesh)
      keep = out["mask"].astype(bool)[:, None] & out["box_mask"].astype(bool)
      frame, _ = np.nonzero(keep)  # Row-major: keyframe, then box slot.
      rows["keyframe_index"].append(out["keyframe_index"][frame])
      rows["timestamp"].append(out["timestamp"][frame])
      rows["boxes"].append(out["normalised_boxes"][keep])
      rows["scores"].append(out["scores"][keep])
      bar.update(1)
  if not rows["scores"]:
    raise ValueError("The evaluation split has no keyframes.")
  rows = {k: np.concatenate(v) for k, v in rows.items()}
  order = np.argsort(rows["keyframe_index"], kind="stable")
  rows = {k: v[order] for k, v in rows.items()}
  video_ids = evaluator.gather_video_ids(local_ids, rows["keyframe_index"])
  keys = np.asarray([ava_metrics.frame_key(v, t)
                     for v, t in zip(video_ids, rows["timestamp"])], str)
  return keys, rows["boxes"], rows["scores"]


def evaluate(score: Callable[..., Mapping[str, jax.Array]], variables: Any,
             batches: Iterable[Mapping[str, np.ndarray]],
             groundtruth: GroundTruth, *, mesh: Mesh | None = None,
             num_batches: int | None = None,
             progress: bool = True) -> DetectionResult:
  """Frame-level mAP of the scored keyframes of `batches`.

  Args:
    score: the jitted scorer of a detection model (`scorer.make_scorer`).
    variables: replicated on `mesh`.
    batches: this host's `ava_pipeline.make_eval_dataset` batches.
    groundtruth: `read_ground_truth(...)` (or its `mini_ground_truth`).
    mesh: the scorer's mesh (default: all devices).
    num_batches: batches per host, for the progress bar.
    progress: show a progress bar (process 0).

  Returns:
    `metrics`: `mean_ap`, `per_class_ap` {name: AP or None}, `num_keyframes`,
    `num_boxes`, `seconds`; and the detection rows. The same on every host.
  """
  start = time.time()
  mesh = sharding.make_mesh() if mesh is None else mesh
  keys, boxes, scores = score_keyframes(score, variables, batches, mesh=mesh,
                                        num_batches=num_batches,
                                        progress=progress)
  detections = ava_metrics.detections_from_scores(
      keys, boxes, scores, groundtruth.label_map)
  metrics = ava_metrics.evaluate(groundtruth.boxes, detections,
                                 groundtruth.label_map, groundtruth.excluded)
  metrics.update(num_keyframes=len(set(keys.tolist())), num_boxes=len(keys),
                 seconds=round(time.time() - start, 1))
  logging.info("mAP %.4f over %d keyframes (%d boxes).", metrics["mean_ap"],
               metrics["num_keyframes"], metrics["num_boxes"])
  return DetectionResult(metrics, detections)


def write_results(output_dir: epath.PathLike, result: DetectionResult,
                  extra: Mapping[str, Any] | None = None) -> epath.Path:
  """Writes `results.json` (metrics + `extra`) and `detections.csv` (the
  AVA CSV format). Returns the path of `results.json`."""
  output_dir = epath.Path(output_dir)
  output_dir.mkdir(parents=True, exist_ok=True)
  ava_metrics.write_boxes(output_dir / DETECTIONS_FILE, result.detections)
  return evaluator.write_results_json(output_dir,
                                     {**result.metrics, **(extra or {})})
