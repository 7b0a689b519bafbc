"""Where training and validation batches come from, by `config.data.name`.

`get(config)` returns a `Source`: `"fake"` (`slowfast_jax.fake_data`, random
clips in memory, for tests and benchmarks), the prepared AVA keyframes of
`config.data.name` for a detection model (`config.model.detection`,
`slowfast_jax.data.ava_pipeline`), or, for any other name, the prepared TFDS
dataset of that name (`slowfast_jax.data.pipeline`). Every source yields
host-local numpy batches of the pipeline's formats.
"""

import dataclasses
from typing import Any, Callable, Iterator

import ml_collections

Batches = Iterator[dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Source:
  """A data source's three functions (arguments as in `data.pipeline`).

  Attributes:
    dataset_info: `(config, split=None) -> pipeline.DatasetInfo`.
    make_train_dataset: `(config, *, process_index, process_count,
      start_step) -> ` endless numpy batches `{"video", "label"}` (AVA:
      `{"video", "boxes", "box_mask", "labels"}`).
    make_eval_dataset: `(config, split, *, num_clips, num_crops, batch_size,
      process_index, process_count) -> ` finite numpy batches with `mask`
      (AVA: `(config, split, *, batch_size, process_index, process_count,
      mode)`, batches of `ava_pipeline.make_eval_dataset`).
  """
  dataset_info: Callable[..., Any]
  make_train_dataset: Callable[..., Batches]
  make_eval_dataset: Callable[..., Batches]


def _fake() -> Source:
  from slowfast_jax import fake_data  # pylint: disable=g-import-not-at-top
  return Source(fake_data.dataset_info, fake_data.make_train_dataset,
                fake_data.make_eval_dataset)


def _tf_data_source(module) -> Source:
  """A pipeline module's functions, its tf.data datasets as numpy batches."""
  return Source(
      module.dataset_info,
      lambda *args, **kwargs: module.make_train_dataset(
          *args, **kwargs).as_numpy_iterator(),
      lambda *args, **kwargs: module.make_eval_dataset(
          *args, **kwargs).as_numpy_iterator())


def _prepared() -> Source:
  from slowfast_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  return _tf_data_source(pipeline)


def _ava() -> Source:
  from slowfast_jax.data import ava_pipeline  # pylint: disable=g-import-not-at-top
  return _tf_data_source(ava_pipeline)


# Sources by `config.data.name`; any other name is a prepared dataset.
SOURCES = {"fake": _fake}


def get(config: ml_collections.ConfigDict) -> Source:
  """The source `config.data.name` selects (see the module docstring)."""
  if config.data.name in SOURCES:
    return SOURCES[config.data.name]()
  return _ava() if config.model.get("detection") else _prepared()
