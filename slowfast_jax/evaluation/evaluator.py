"""The one evaluator: every view of every video, aggregated per video.

The release's test protocol (TestMeter, `ENSEMBLE_METHOD: sum`): each video is
cut into `num_clips` temporal clips × `num_crops` spatial crops ("views"); the
scorer (`slowfast_jax.evaluation.scorer`) gives each view the release's test
output; a video's score is the sum of its views' scores (or the element-wise
max), and top-k accuracy is computed on those scores. In-training validation
is the same with one view per video. Multi-label (Charades, `multi_label`):
the scores are sigmoids, labels multi-hot rows, and the metric is the
release's mAP (`multilabel_metrics`).

Sharding: the scorer runs on batches split over the `data` axis of a device
`Mesh`, with the variables replicated. Every host feeds its own batches
(`jax.make_array_from_process_local_data`); the per-view scores come back
replicated, so every host aggregates all views and holds the same result.
Padding rows carry `mask = 0` and are dropped, so each view is counted once
whatever the batch size and host count. Video ids (strings) stay on the host
that read them and are gathered from every host at the end.
"""

import dataclasses
import json
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
from slowfast_jax.evaluation import metrics as metrics_lib
from slowfast_jax.evaluation import multilabel_metrics

# Keys of a host batch that go to the devices; `video` is
# uint8 `(batch, num_frames, crop, crop, 3)`, the others `(batch,)` int.
BATCH_KEYS = ("video", "label", "video_index", "view_index", "mask")
# Optional host-only key: `(batch,)` bytes or str, the dataset's video ids.
VIDEO_ID_KEY = "video_id"
RESULTS_FILE = "results.json"
SCORES_FILE = "scores.npz"


def score_host_batch(score: Callable[..., Mapping[str, jax.Array]],
                     variables: Any, host_batch: Mapping[str, np.ndarray],
                     mesh: Mesh) -> dict[str, np.ndarray]:
  """Scores this host's batch with `score` (from `scorer.make_scorer`).

  Pads the host's rows to a multiple of its devices (`mask = 0`), runs the
  scorer on the global batch and returns every host's rows as numpy (padding
  included: drop rows with `mask == 0`). A collective: every host calls it.
  """
  multiple = sharding.local_device_count(mesh)
  rows = -(-len(host_batch["mask"]) // multiple) * multiple
  out = score(variables, sharding.global_batch(pad_rows(host_batch, rows),
                                               mesh))
  return jax.device_get(out)


def pad_rows(batch: Mapping[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
  """Pads every field to `rows` rows with zeros (so `mask = 0`: ignored)."""
  have = len(batch["mask"])
  if have > rows:
    raise ValueError(f"A host batch has {have} rows, more than {rows}.")
  return {k: np.concatenate([v, np.zeros((rows - have,) + v.shape[1:], v.dtype)])
          for k, v in batch.items()}


def local_video_ids(batch: Mapping[str, np.ndarray],
                    index_key: str = "video_index") -> dict[int, str]:
  """`{index: video_id}` of a host batch's real rows ({} without ids).

  `index_key` names the row's position in the split: `video_index`, or
  `keyframe_index` for AVA keyframes.
  """
  if VIDEO_ID_KEY not in batch:
    return {}
  keep = np.asarray(batch["mask"]).astype(bool)
  ids = np.asarray(batch[VIDEO_ID_KEY])[keep]
  return {int(index): (i.decode() if isinstance(i, bytes) else str(i))
          for index, i in zip(np.asarray(batch[index_key])[keep], ids)}


def gather_video_ids(local: Mapping[int, str],
                     video_index: np.ndarray) -> np.ndarray:
  """str `(videos,)`: the ids of `video_index` `(videos,)`, from all hosts.

  A collective (every host calls it). A video no host has an id for (fake
  data) is named by its index.
  """
  merged = {}
  for pairs in sharding.allgather_json(sorted(local.items())):
    merged.update((int(index), video_id) for index, video_id in pairs)
  return np.asarray([merged.get(int(i), str(i)) for i in video_index],
                    dtype=str)


@dataclasses.dataclass
class EvalResult:
  """Per-video scores and summary metrics of one multi-view test."""
  metrics: dict[str, Any]
  video_index: np.ndarray  # (videos,) int: position in the split.
  labels: np.ndarray  # (videos,) int; multi-label: (videos, classes) 0/1.
  scores: np.ndarray  # (videos, classes): summed (or max) view scores.
  video_ids: np.ndarray  # (videos,) str: the dataset's ids.


def evaluate(score: Callable[..., Mapping[str, jax.Array]], variables: Any,
             batches: Iterable[Mapping[str, np.ndarray]], *, num_classes: int,
             num_clips: int, num_crops: int, ensemble: str = "sum",
             num_videos: int = 0, num_batches: int | None = None,
             mesh: Mesh | None = None, progress: bool = True,
             multi_label: bool = False) -> EvalResult:
  """Scores every view of `batches` and aggregates per video.

  Args:
    score: the jitted scorer, `scorer.make_scorer(model, data, mesh)`.
    variables: `{'params', 'batch_stats'}` replicated on `mesh`
      (`sharding.replicate`).
    batches: this host's batches: `video` uint8 `(batch, time, crop, crop,
      3)`, `label`, `video_index`, `view_index`, `mask` `(batch,)`, and
      optionally `video_id` `(batch,)`. Every host must yield the same number
      of batches of the same size.
    num_classes: classifier outputs.
    num_clips: temporal clips per video.
    num_crops: spatial crops per clip.
    ensemble: "sum" or "max" over views.
    num_videos: expected number of videos (for the missing-view check; 0 =
      the videos seen).
    num_batches: batches per host, for the progress bar's ETA.
    mesh: the scorer's device mesh (default: all devices).
    progress: show a progress bar (on process 0).
    multi_label: the batches' `label` are multi-hot rows `(batch,
      num_classes)` (Charades).

  Returns:
    The per-video scores and ids of all hosts' videos (the same on every
    host) and the metrics `top1`, `top5`, `mean_class_accuracy`, `nll`
    (with `ensemble="sum"`), `num_videos`, `num_views`; multi-label:
    `mean_ap` (the release's mAP), `per_class_ap` (a list by class, None
    for a class without a positive video) and `num_classes_with_positives`
    instead of the accuracies.
  """
  mesh = sharding.make_mesh() if mesh is None else mesh
  aggregator = metrics_lib.ViewAggregator(num_classes, num_clips * num_crops,
                                          ensemble, num_videos, multi_label)
  host_views = 0
  host_ids = {}
  bar = tqdm.tqdm(total=num_batches, desc="eval", unit="batch",
                  disable=not progress or jax.process_index() != 0)
  start = time.time()
  with bar:
    for host_batch in batches:
      host_ids.update(local_video_ids(host_batch))
      host_batch = {k: np.asarray(host_batch[k]) for k in BATCH_KEYS}
      host_views += int(host_batch["mask"].astype(bool).sum())
      out = score_host_batch(score, variables, host_batch, mesh)
      aggregator.add(out["scores"], out["label"], out["video_index"],
                     out["view_index"], out["mask"])
      bar.update(1)
      bar.set_postfix(views=int(aggregator.views_per_video.sum()))
  logging.info("Process %d fed %d of the %d views.", jax.process_index(),
               host_views, int(aggregator.views_per_video.sum()))
  video_index, labels, scores = aggregator.result()
  video_ids = gather_video_ids(host_ids, video_index)
  metrics = _summary_metrics(aggregator, video_index, labels, scores,
                             num_videos)
  metrics.update(num_clips=num_clips, num_crops=num_crops, ensemble=ensemble,
                 seconds=round(time.time() - start, 1))
  return EvalResult(metrics, video_index, labels, scores, video_ids)


def _summary_metrics(aggregator: metrics_lib.ViewAggregator,
                     video_index: np.ndarray, labels: np.ndarray,
                     scores: np.ndarray, num_videos: int) -> dict[str, Any]:
  """Accuracy metrics and view counts; warns about videos missing views."""
  views = aggregator.views_per_video
  incomplete = int((views[video_index] < aggregator.num_views).sum())
  missing = max(num_videos - len(video_index), 0)
  if incomplete or missing:
    logging.warning(
        "%d videos have fewer than %d views and %d videos have none; the "
        "metrics cover the views that were seen.", incomplete,
        aggregator.num_views, missing)
  if aggregator.multi_label:
    metrics = multilabel_summary(scores, labels)
  else:
    metrics = metrics_lib.compute_metrics(scores, labels,
                                          aggregator.num_classes)
  if (aggregator.ensemble == "sum" and not aggregator.multi_label and
      len(video_index)):
    metrics["nll"] = metrics_lib.mean_nll(
        metrics_lib.as_probabilities(scores, aggregator.ensemble,
                                     views[video_index, None]), labels)
  metrics.update(num_videos=int(len(video_index)), num_views=int(views.sum()),
                 incomplete_videos=incomplete, missing_videos=missing)
  return metrics


def multilabel_summary(scores: np.ndarray,
                       labels: np.ndarray) -> dict[str, Any]:
  """`mean_ap`, `per_class_ap` (None where a class has no positive) and
  `num_classes_with_positives` of per-video scores and multi-hot labels."""
  per_class = multilabel_metrics.average_precision_per_class(scores, labels)
  return {
      "mean_ap": multilabel_metrics.mean_average_precision(scores, labels),
      "per_class_ap": [None if np.isnan(ap) else float(ap)
                       for ap in per_class],
      "num_classes_with_positives": int(np.any(labels == 1, axis=0).sum()),
  }


def write_results(output_dir: epath.PathLike, result: EvalResult,
                  extra: Mapping[str, Any] | None = None) -> epath.Path:
  """Writes `results.json` (metrics + `extra`) and `scores.npz`.

  `scores.npz` holds, one row per video: `video_id` str `(videos,)`,
  `video_index` int `(videos,)`, `label` int `(videos,)` (multi-label: 0/1
  `(videos, classes)`) and `scores` float32 `(videos, classes)`. Returns the path of `results.json`.
  """
  output_dir = epath.Path(output_dir)
  output_dir.mkdir(parents=True, exist_ok=True)
  with (output_dir / SCORES_FILE).open("wb") as f:
    np.savez(f, video_id=result.video_ids, video_index=result.video_index,
             label=result.labels, scores=result.scores.astype(np.float32))
  return write_results_json(output_dir, {**result.metrics, **(extra or {})})


def write_results_json(output_dir: epath.Path,
                       results: Mapping[str, Any]) -> epath.Path:
  """Writes `results` to `output_dir/results.json`; returns its path."""
  path = output_dir / RESULTS_FILE
  path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
  return path


def check_num_classes(variables: Any, model_config: ml_collections.ConfigDict,
                      checkpoint_dir: epath.PathLike) -> None:
  """The checkpoint's classifier must match `model.num_classes`."""
  try:
    kernel = variables["params"]["head"]["projection"]["kernel"]
  except (KeyError, TypeError):
    return  # Let the model report the mismatch in full.
  if kernel.shape[-1] != model_config.num_classes:
    raise ValueError(
        f"--checkpoint {checkpoint_dir} has {kernel.shape[-1]} classes; the "
        f"config has model.num_classes={model_config.num_classes}. Pass "
        f"--config.model.num_classes={kernel.shape[-1]} or the right config.")
