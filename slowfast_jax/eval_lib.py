"""Multi-view testing: every view of every video, sharded over devices and hosts.

The release's test protocol (TestMeter, `ENSEMBLE_METHOD: sum`): each video is
cut into `num_clips` temporal clips × `num_crops` spatial crops ("views"); the
model's eval output for a view is the softmax at every position of the head's
pooled map averaged over positions (`probabilities=True`); a video's score is
the sum of its views' scores (or the element-wise max), and top-k accuracy is
computed on those scores.

Sharding: the model is jitted on batches split over the `data` axis of a device
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

from slowfast_jax import eval_metrics
from slowfast_jax import models
from slowfast_jax import sharding
from slowfast_jax.ops import xla_cpu
from slowfast_jax.data import model_input

# Keys of a host batch that go to the devices; `video` is
# uint8 `(batch, num_frames, crop, crop, 3)`, the others `(batch,)` int.
BATCH_KEYS = ("video", "label", "video_index", "view_index", "mask")
# Optional host-only key: `(batch,)` bytes or str, the dataset's video ids.
VIDEO_ID_KEY = "video_id"
RESULTS_FILE = "results.json"
SCORES_FILE = "scores.npz"


def make_view_scores_fn(model_config: ml_collections.ConfigDict,
                        data_config: ml_collections.ConfigDict,
                        mesh: Mesh) -> Callable[..., dict[str, jax.Array]]:
  """The jitted per-view eval step.

  Returns `fn(variables, batch) -> batch'` where `batch` holds global arrays
  (`video` uint8 `(batch, time, crop, crop, 3)` sharded over `data`, plus any
  `(batch,)` integer fields) and `batch'` is the same fields with `video`
  replaced by `scores` `(batch, classes)` float32: the release's eval output
  per view. Outputs are replicated so every host can read every row.
  """
  model = models.build_model(model_config)

  def view_scores(variables, batch):
    pathways = model_input.prepare_pathways(batch["video"], model_config,
                                            data_config)
    scores = model.apply(variables, pathways, train=False, probabilities=True)
    out = {k: v for k, v in batch.items() if k != "video"}
    out["scores"] = scores.astype(np.float32)
    return out

  return jax.jit(
      view_scores,
      in_shardings=(sharding.replicated(mesh), sharding.data_sharding(mesh)),
      out_shardings=sharding.replicated(mesh),
      compiler_options=xla_cpu.model_compiler_options())


def pad_rows(batch: Mapping[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
  """Pads every field to `rows` rows with zeros (so `mask = 0`: ignored)."""
  have = len(batch["mask"])
  if have > rows:
    raise ValueError(f"A host batch has {have} rows, more than {rows}.")
  return {k: np.concatenate([v, np.zeros((rows - have,) + v.shape[1:], v.dtype)])
          for k, v in batch.items()}


def local_video_ids(batch: Mapping[str, np.ndarray]) -> dict[int, str]:
  """`{video_index: video_id}` of a host batch's real rows ({} without ids)."""
  if VIDEO_ID_KEY not in batch:
    return {}
  keep = np.asarray(batch["mask"]).astype(bool)
  ids = np.asarray(batch[VIDEO_ID_KEY])[keep]
  return {int(index): (i.decode() if isinstance(i, bytes) else str(i))
          for index, i in zip(np.asarray(batch["video_index"])[keep], ids)}


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
  labels: np.ndarray  # (videos,) int
  scores: np.ndarray  # (videos, classes): summed (or max) view scores.
  video_ids: np.ndarray  # (videos,) str: the dataset's ids.


def evaluate(variables: Any, batches: Iterable[Mapping[str, np.ndarray]], *,
             model_config: ml_collections.ConfigDict,
             data_config: ml_collections.ConfigDict,
             num_clips: int, num_crops: int, ensemble: str = "sum",
             num_videos: int = 0, num_batches: int | None = None,
             mesh: Mesh | None = None, progress: bool = True) -> EvalResult:
  """Runs every view of `batches` and aggregates per video.

  Args:
    variables: `{'params', 'batch_stats'}` (numpy or jax arrays, same on
      every host).
    batches: this host's batches: `video` uint8 `(batch, time, crop, crop,
      3)`, `label`, `video_index`, `view_index`, `mask` `(batch,)`, and
      optionally `video_id` `(batch,)`. Every host must yield the same number
      of batches of the same size.
    model_config: the `model` config section.
    data_config: the `data` config section (normalization, pathway packing).
    num_clips: temporal clips per video.
    num_crops: spatial crops per clip.
    ensemble: "sum" or "max" over views.
    num_videos: expected number of videos (for the missing-view check; 0 =
      the videos seen).
    num_batches: batches per host, for the progress bar's ETA.
    mesh: device mesh with a `data` axis (default: all devices).
    progress: show a progress bar (on process 0).

  Returns:
    The per-video scores and ids of all hosts' videos (the same on every
    host) and the metrics `top1`, `top5`, `mean_class_accuracy`,
    `num_videos`, `num_views`.
  """
  mesh = sharding.make_mesh() if mesh is None else mesh
  step = make_view_scores_fn(model_config, data_config, mesh)
  variables = sharding.replicate(variables, mesh)
  multiple = sharding.local_device_count(mesh)
  aggregator = eval_metrics.ViewAggregator(
      model_config.num_classes, num_clips * num_crops, ensemble, num_videos)
  num_views = host_views = 0
  host_ids = {}
  bar = tqdm.tqdm(total=num_batches, desc="eval", unit="batch",
                  disable=not progress or jax.process_index() != 0)
  start = time.time()
  with bar:
    for host_batch in batches:
      host_ids.update(local_video_ids(host_batch))
      host_batch = {k: np.asarray(host_batch[k]) for k in BATCH_KEYS}
      host_views += int(host_batch["mask"].astype(bool).sum())
      rows = -(-len(host_batch["mask"]) // multiple) * multiple
      out = step(variables,
                 sharding.global_batch(pad_rows(host_batch, rows), mesh))
      out = jax.device_get(out)
      aggregator.add(out["scores"], out["label"], out["video_index"],
                     out["view_index"], out["mask"])
      num_views += int(np.asarray(out["mask"]).astype(bool).sum())
      bar.update(1)
      bar.set_postfix(views=num_views)
  logging.info("Process %d fed %d of the %d views.", jax.process_index(),
               host_views, num_views)
  video_index, labels, scores = aggregator.result()
  video_ids = gather_video_ids(host_ids, video_index)
  views = aggregator.views_per_video
  incomplete = int((views[video_index] < aggregator.num_views).sum())
  missing = max(num_videos - len(video_index), 0)
  if incomplete or missing:
    logging.warning(
        "%d videos have fewer than %d views and %d videos have none; the "
        "metrics cover the views that were seen.", incomplete,
        aggregator.num_views, missing)
  metrics = eval_metrics.compute_metrics(scores, labels,
                                         model_config.num_classes)
  metrics.update(
      num_videos=int(len(video_index)),
      num_views=num_views,
      num_clips=num_clips,
      num_crops=num_crops,
      ensemble=ensemble,
      incomplete_videos=incomplete,
      missing_videos=missing,
      seconds=round(time.time() - start, 1),
  )
  return EvalResult(metrics, video_index, labels, scores, video_ids)


def write_results(output_dir: epath.PathLike, result: EvalResult,
                  extra: Mapping[str, Any] | None = None) -> epath.Path:
  """Writes `results.json` (metrics + `extra`) and `scores.npz`.

  `scores.npz` holds, one row per video: `video_id` str `(videos,)`,
  `video_index` int `(videos,)`, `label` int `(videos,)` and `scores`
  float32 `(videos, classes)`. Returns the path of `results.json`.
  """
  output_dir = epath.Path(output_dir)
  output_dir.mkdir(parents=True, exist_ok=True)
  with (output_dir / SCORES_FILE).open("wb") as f:
    np.savez(f, video_id=result.video_ids, video_index=result.video_index,
             label=result.labels, scores=result.scores.astype(np.float32))
  results = dict(result.metrics)
  results.update(extra or {})
  path = output_dir / RESULTS_FILE
  path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
  return path


def latest_step(checkpoint_dir: epath.PathLike) -> int:
  """The highest step subdirectory of a checkpoint directory."""
  checkpoint_dir = epath.Path(checkpoint_dir)
  if not checkpoint_dir.exists():
    raise FileNotFoundError(f"--checkpoint {checkpoint_dir} does not exist.")
  steps = [int(p.name) for p in checkpoint_dir.iterdir() if p.name.isdigit()]
  if not steps:
    raise FileNotFoundError(f"--checkpoint {checkpoint_dir} has no step "
                            "subdirectories (expected DIR/<step>/variables).")
  return max(steps)


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
