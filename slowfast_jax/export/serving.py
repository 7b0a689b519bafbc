"""The serving function every export format wraps: uint8 frames → scores.

`make_serving_fn` gives `serve(variables, frames) -> (probabilities,
top_k_indices)`: it normalizes the uint8 frames, splits them into the model's
pathways, runs the network in eval mode and returns the release's test output
and its top-k classes: `evaluation.scorer.view_scores`, the scorer's own
function, traced with the exported model. The network is built
with `conv_impl="native"` (one `lax.conv_general_dilated` per convolution, no
CPU-specific formulations), so the exported graph holds only standard ops.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections

from slowfast_jax import models
from slowfast_jax.evaluation import scorer

INPUT_NAME = "frames"
OUTPUT_NAMES = ("probabilities", "top_k_indices")
# The ops' formulation that gets exported; see `slowfast_jax.ops`.
EXPORT_CONV_IMPL = "native"

ServingFn = Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]


def frames_shape(config: ml_collections.ConfigDict,
                 batch: int | str = 1) -> tuple[int | str, ...]:
  """`(batch, num_frames, test_crop, test_crop, 3)` of the serving input.

  `num_frames` is `config.model.num_frames` (the Fast pathway's for
  SlowFast); the crop is `config.data.test_crop_size`.
  """
  crop = config.data.test_crop_size
  return (batch, config.model.num_frames, crop, crop, 3)


def input_spec(config: ml_collections.ConfigDict, batch: int | None
               ) -> jax.ShapeDtypeStruct:
  """The serving input: uint8 `frames_shape(config, batch)`.

  `batch=None` gives a symbolic batch dimension `b` (any batch size).
  """
  if batch is None:
    size, = jax.export.symbolic_shape("b")
  elif batch < 1:
    raise ValueError(f"batch={batch}; expected a positive batch size.")
  else:
    size = batch
  return jax.ShapeDtypeStruct(frames_shape(config, size), jnp.uint8)


def export_model(model_config: ml_collections.ConfigDict):
  """The network of `model_config` with the exported convolution path."""
  return models.build_model(model_config, conv_impl=EXPORT_CONV_IMPL)


def top_k_indices(scores: jax.Array, k: int) -> jax.Array:
  """int32 `(batch, k)`: the k best classes of `(batch, classes)`, best first
  (ties: lower index first).

  A stable sort rather than `lax.top_k`: jax 0.10 lowers top_k to a StableHLO
  composite that TensorFlow 2.21's XlaCallModule cannot read.
  """
  return jnp.argsort(-scores, axis=-1, stable=True)[:, :k].astype(jnp.int32)


def make_serving_fn(config: ml_collections.ConfigDict, top_k: int = 5,
                    model=None) -> ServingFn:
  """`serve(variables, frames)`: uint8 clips → class probabilities, top-k.

  Args:
    config: a full config (`model` and `data`: mean, std, test crop).
    top_k: how many class indices to return per clip (at most the classes).
    model: the network to call (default `export_model(config.model)`).

  Returns:
    `serve(variables, frames)` with frames uint8 `(batch, time, crop, crop,
    3)`, time = `config.model.num_frames`, returning float32 probabilities
    `(batch, classes)` and int32 indices `(batch, top_k)`, best first.
  """
  num_classes = config.model.num_classes
  if not 1 <= top_k <= num_classes:
    raise ValueError(f"top_k={top_k}; expected 1..{num_classes} "
                     "(model.num_classes).")
  model = export_model(config.model) if model is None else model

  def serve(variables, frames):
    if frames.dtype != jnp.uint8:
      raise ValueError(f"The serving input has dtype {frames.dtype}; expected "
                       "uint8 frames (batch, time, height, width, 3).")
    probabilities = scorer.view_scores(model, variables, frames, config.model,
                                       config.data)
    return probabilities, top_k_indices(probabilities, top_k)

  return serve
