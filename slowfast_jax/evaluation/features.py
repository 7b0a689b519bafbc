"""Pooled features of sliding windows over many videos, written to disk.

For each video `DIR/NAME.mp4` (NAME: its path relative to the folder all the
videos share, without the extension) `extract` writes

  OUT/NAME.npy   float32 or float16 `(windows, dim)`: the model's pooled
                 features (`output="features"`, the classifier's input) of
                 each window (`windows.py` for the windows);
  OUT/NAME.json  the windows' `start_frame`, `start_seconds`, `end_seconds`,
                 the window settings, `num_frames` decoded, `dim`, `dtype`.

Each file is written to `*.partial` and renamed, `.npy` first, so a video is
finished exactly when its `.json` exists: a rerun skips those and redoes the
rest, and an interrupted run never leaves a half file under a final name.
Undecodable videos go to `bad_files.tsv` (path, reason; one file per host
when there are several) and the run goes on. Hosts split the list: host `i`
of `n` takes videos `i, i + n, ...`.
"""

import dataclasses
import json
import os
import time
from typing import Any, Callable, Mapping, Sequence

import jax
import ml_collections
import numpy as np
import tqdm

from slowfast_jax import models
from slowfast_jax import sharding
from slowfast_jax.ops import xla_cpu
from slowfast_jax.evaluation import scorer
from slowfast_jax.evaluation import windows

FEATURES = ("concat", "slow", "fast")
DTYPES = ("float32", "float16")
PARTIAL = ".partial"


def make_feature_fn(model_config: ml_collections.ConfigDict,
                    data_config: ml_collections.ConfigDict, variables: Any, *,
                    feature: str = "concat", devices=None
                    ) -> Callable[[np.ndarray], jax.Array]:
  """`fn(clips uint8 (batch, T, height, width, 3)) -> (batch, dim)` features.

  One jitted function: normalization and the pathway split as the scorer
  does (`scorer.view_outputs`), the model's `output="features"[feature]`.
  Runs on this host's devices (`devices`, default all local ones), the batch
  split over them; `batch` must be a multiple of their number.
  """
  if feature not in FEATURES:
    raise ValueError(f"feature={feature!r}; expected one of {FEATURES}.")
  if feature != "concat" and feature not in models.pathway_names(
      model_config.arch):
    raise ValueError(f"feature={feature!r}: arch={model_config.arch!r} has "
                     f"pathways {models.pathway_names(model_config.arch)}.")
  mesh = sharding.make_mesh(jax.local_devices() if devices is None
                            else devices)
  model = models.build_model(model_config)

  def features(variables, video):
    return scorer.view_outputs(model, variables, video, model_config,
                               data_config, "features")[feature]

  jitted = jax.jit(features,
                   in_shardings=(sharding.replicated(mesh),
                                 sharding.data_sharding(mesh)),
                   out_shardings=sharding.replicated(mesh),
                   compiler_options=xla_cpu.model_compiler_options())
  variables = sharding.replicate(variables, mesh)
  return lambda clips: jitted(
      variables, sharding.global_batch({"v": clips}, mesh)["v"])


def output_names(paths: Sequence[str]) -> list[str]:
  """Each video's output name: its path relative to the videos' common
  folder, without extension (`/d/a/x.mp4`, `/d/b/y.mp4` → `a/x`, `b/y`)."""
  absolute = [os.path.abspath(p) for p in paths]
  if not absolute:
    return []
  root = os.path.commonpath([os.path.dirname(p) for p in absolute])
  names = [os.path.splitext(os.path.relpath(p, root))[0] for p in absolute]
  first = {}
  for path, name in zip(paths, names):
    if name in first:
      raise ValueError(f"{first[name]} and {path} would both be written as "
                       f"{name}.npy; rename one.")
    first[name] = path
  return names


def output_paths(out_dir: str, name: str) -> tuple[str, str]:
  """`(OUT/NAME.npy, OUT/NAME.json)`."""
  base = os.path.join(out_dir, name)
  return base + ".npy", base + ".json"


def is_done(out_dir: str, name: str) -> bool:
  """A video is finished when its `.json` (written last) exists."""
  return os.path.exists(output_paths(out_dir, name)[1])


def _write_atomic(path: str, write: Callable[[Any], None]) -> None:
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  partial = path + PARTIAL
  with open(partial, "wb") as f:
    write(f)
  os.replace(partial, path)


def window_record(result: windows.VideoOutputs) -> dict[str, Any]:
  """The windows and their settings, as written to `NAME.json`."""
  spec = result.spec
  return dict(
      video=result.path, num_frames=int(result.num_frames),
      num_windows=len(result.start_frames), fps=spec.fps,
      window_frames=spec.window_frames, stride_frames=spec.stride_frames,
      clip_frames=spec.clip_frames, crop=spec.crop,
      short_side=spec.short_side, crop_size=spec.crop_size,
      start_frame=[int(s) for s in result.start_frames],
      start_seconds=[float(s) for s in result.start_seconds],
      end_seconds=[float(s) for s in result.end_seconds])


def write_features(out_dir: str, name: str, result: windows.VideoOutputs, *,
                   dtype: str = "float32",
                   metadata: Mapping[str, Any] | None = None) -> None:
  """Writes `NAME.npy` then `NAME.json`, each atomically."""
  array = np.asarray(result.outputs, np.float32).astype(dtype)
  npy, record_path = output_paths(out_dir, name)
  _write_atomic(npy, lambda f: np.save(f, array))
  record = window_record(result)
  record.update(dim=int(array.shape[1]), dtype=dtype, **(metadata or {}))
  text = json.dumps(record, indent=1) + "\n"
  _write_atomic(record_path, lambda f: f.write(text.encode()))


@dataclasses.dataclass
class Summary:
  """What one host did: names written and skipped, `(path, reason)` failed."""
  written: list[str] = dataclasses.field(default_factory=list)
  skipped: list[str] = dataclasses.field(default_factory=list)
  failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
  windows: int = 0
  seconds: float = 0.0


def bad_files_path(out_dir: str, process_index: int,
                   process_count: int) -> str:
  if process_count == 1:
    return os.path.join(out_dir, "bad_files.tsv")
  return os.path.join(out_dir,
                      f"bad_files.{process_index}-of-{process_count}.tsv")


def extract(paths: Sequence[str], out_dir: str, spec: windows.WindowSpec,
            apply: Callable[[np.ndarray], Any], *, batch_size: int,
            dtype: str = "float32", metadata: Mapping[str, Any] | None = None,
            process_index: int = 0, process_count: int = 1,
            progress: bool = True) -> Summary:
  """Writes the window features of this host's share of `paths`.

  Args:
    paths: every host's video files (the same list on every host).
    out_dir: output folder.
    spec: the windows.
    apply: `make_feature_fn(...)` or any `clips -> (batch, dim)`.
    batch_size: windows per `apply` call.
    dtype: "float32" or "float16" on disk.
    metadata: extra fields for every `NAME.json` (config, checkpoint).
    process_index, process_count: this host and the number of hosts.
    progress: show a progress bar with ETA.

  Returns:
    This host's `Summary`; bad files are also in `bad_files*.tsv`.
  """
  if dtype not in DTYPES:
    raise ValueError(f"dtype={dtype!r}; expected one of {DTYPES}.")
  names = dict(zip(paths, output_names(paths)))
  mine = list(paths)[process_index::process_count]
  summary = Summary(skipped=[names[p] for p in mine
                             if is_done(out_dir, names[p])])
  todo = [p for p in mine if not is_done(out_dir, names[p])]
  os.makedirs(out_dir, exist_ok=True)
  start = time.time()
  bar = tqdm.tqdm(total=len(todo), unit="video", desc="extract",
                  disable=not progress)
  with open(bad_files_path(out_dir, process_index, process_count), "w",
            encoding="utf-8") as bad, bar:
    bad.write("path\treason\n")
    for result in windows.iter_video_outputs(todo, spec, apply,
                                             batch_size=batch_size):
      if isinstance(result, windows.VideoFailure):
        summary.failed.append((result.path, result.reason))
        bad.write(f"{result.path}\t{result.reason}\n")
        bad.flush()
      else:
        write_features(out_dir, names[result.path], result, dtype=dtype,
                       metadata=metadata)
        summary.written.append(names[result.path])
        summary.windows += len(result.outputs)
      bar.update(1)
      bar.set_postfix(windows=summary.windows, bad=len(summary.failed))
  summary.seconds = time.time() - start
  return summary
