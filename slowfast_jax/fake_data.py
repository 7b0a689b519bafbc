"""In-memory random clips with the data pipeline's interface: a test/bench aid.

Selected with `config.data.name = "fake"`. Batches have the formats of
`slowfast_jax.data.pipeline` (uint8 clips, int32 labels; eval adds
`video_index`, `view_index`, `mask`) but are drawn from numpy: no files, no
decoding, so tests and benchmarks measure the training step alone.

The global batch of step `s` is a function of `(seed, s)` only, and host `i`
of `n` yields rows `[i * B / n, (i + 1) * B / n)` of it; so any number of
hosts sees the same global batches, and `start_step` resumes exactly.
The label shifts the clip's brightness, so a model can learn it. With
`config.data.multi_label` the labels are that class as multi-hot rows
`(batch, num_classes)` (padding rows all 0).

Test aid: with `config.data.fake_nan_at_step = s` (> 0) the clips are float32
and step `s`'s batch is NaN, a deterministic divergence for the training
loop's non-finite check.
"""

from typing import Iterator

import ml_collections
import numpy as np

from slowfast_jax.data import pipeline

NAME = "fake"


def _clips(rng: np.random.Generator, labels: np.ndarray, num_frames: int,
           crop: int, num_classes: int) -> np.ndarray:
  """uint8 `(batch, num_frames, crop, crop, 3)`, brighter for larger labels."""
  noise = rng.integers(0, 128, (len(labels), num_frames, crop, crop, 3))
  offset = (labels * (128 // max(num_classes, 1)))[:, None, None, None, None]
  return (noise + offset).astype(np.uint8)


def _label_rows(config: ml_collections.ConfigDict, labels: np.ndarray,
                mask: np.ndarray | None = None) -> np.ndarray:
  """int32 labels, as multi-hot rows for a multi-label config."""
  if not config.data.get("multi_label", False):
    return labels.astype(np.int32)
  rows = np.eye(config.model.num_classes, dtype=np.int32)[labels]
  return rows if mask is None else rows * mask[:, None]


def dataset_info(config: ml_collections.ConfigDict,
                 split: str | None = None) -> pipeline.DatasetInfo:
  data = config.data
  sizes = {data.train_split: data.get("fake_train_size", 64),
           data.val_split: data.get("fake_val_size", 16)}
  if split is not None:
    sizes = {split: sizes[split]}
  return pipeline.DatasetInfo(
      name=NAME, num_examples=sizes,
      class_names=tuple(f"class_{i}" for i in range(config.model.num_classes)),
      fps=30.0, short_side=0)


def make_train_dataset(config: ml_collections.ConfigDict, *,
                       process_index: int = 0, process_count: int = 1,
                       seed: int | None = None, start_step: int = 0,
                       step_table=None) -> Iterator[dict[str, np.ndarray]]:
  """Endless host-local batches `{"video", "label"}` from `start_step` on.

  With a multigrid `step_table`, step s's batch has its phase's batch size,
  frames and crop, and the batches end with the table.
  """
  seed = config.seed if seed is None else seed
  classes = config.model.num_classes
  nan_at_step = config.data.get("fake_nan_at_step", 0)
  step = start_step
  shape = (config.global_batch_size, config.model.num_frames,
           config.data.train_crop_size)
  while step_table is None or step < step_table.num_steps:
    if step_table is not None:
      phase = step_table.phase_at(step)
      shape = (phase.batch_size, phase.num_frames, phase.crop_size)
    batch, num_frames, crop = shape
    rows = pipeline.host_batch_size(batch, process_count)
    first = process_index * rows
    rng = np.random.default_rng([seed, step])
    labels = rng.integers(0, classes, batch).astype(np.int32)
    video = _clips(rng, labels, num_frames, crop, classes)[first:first + rows]
    if nan_at_step:
      video = video.astype(np.float32)
      if step + 1 == nan_at_step:
        video[:] = np.nan
    yield {"video": video,
           "label": _label_rows(config, labels[first:first + rows])}
    step += 1


def make_eval_dataset(config: ml_collections.ConfigDict, split: str, *,
                      num_clips: int, num_crops: int, batch_size: int,
                      process_index: int = 0, process_count: int = 1,
                      ) -> Iterator[dict[str, np.ndarray]]:
  """Finite host-local batches of every view, padded with `mask = False`."""
  num_videos = dataset_info(config, split).num_examples[split]
  # The hosts' parts of the split, as `tfds.even_splits` cuts a dataset.
  videos = np.array_split(np.arange(num_videos), process_count)[process_index]
  rows = pipeline.host_batch_size(batch_size, process_count)
  num_batches = pipeline.num_eval_batches(
      num_videos, num_clips=num_clips, num_crops=num_crops,
      batch_size=batch_size, process_count=process_count)
  views = num_clips * num_crops
  video_index = np.repeat(videos, views)
  view_index = np.tile(np.arange(views), len(videos))
  total = num_batches * rows
  pad = total - len(video_index)
  mask = np.concatenate([np.ones(len(video_index), bool), np.zeros(pad, bool)])
  video_index = np.concatenate([video_index, -np.ones(pad, int)]).astype(
      np.int32)
  view_index = np.concatenate([view_index, -np.ones(pad, int)]).astype(
      np.int32)
  classes = config.model.num_classes
  labels = np.where(mask, video_index % classes, 0).astype(np.int32)
  crop = config.data.train_crop_size if views == 1 else \
      config.data.test_crop_size
  for b in range(num_batches):
    s = slice(b * rows, (b + 1) * rows)
    rng = np.random.default_rng([config.seed, 1 << 20, process_index, b])
    video = _clips(rng, labels[s], config.model.num_frames, crop, classes)
    video[~mask[s]] = 0
    yield {"video": video, "label": _label_rows(config, labels[s], mask[s]),
           "video_index": video_index[s],
           "view_index": view_index[s], "mask": mask[s]}
