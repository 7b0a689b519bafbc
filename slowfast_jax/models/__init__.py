"""Flax modules of the SlowFast / Slow / C2D / I3D ResNet family.

`model.conv_impl` picks the ops' formulations (`slowfast_jax.ops`): XLA's own
on TPU and GPU, faster ones on CPU. Importing this package before JAX's first
computation also sets XLA:CPU's option for the model in `XLA_FLAGS`
(`slowfast_jax.ops.enable_cpu_fast_path()`), so any `jax.jit` of the model
runs at full speed on CPU, and turns off the CPU client's async dispatch; the
model's first trace on CPU has glibc keep freed memory for the next call
(`slowfast_jax.ops.cpu_heap`). Imported after JAX has computed something, only
the project's own jits get the option, and dispatch stays asynchronous.
"""

from typing import Any

import ml_collections

from slowfast_jax.models.video_resnet import ARCHS
from slowfast_jax.models.video_resnet import OUTPUTS
from slowfast_jax.models.video_resnet import pathway_names
from slowfast_jax.models.video_resnet import VideoResNet


def _as_tuples(value: Any) -> Any:
  """Nested lists (as configs hold them) → nested tuples (hashable fields)."""
  if isinstance(value, (list, tuple)):
    return tuple(_as_tuples(v) for v in value)
  return value


def build_model(model_config: ml_collections.ConfigDict,
                **overrides) -> VideoResNet:
  """`VideoResNet(**model_config)`, after `validate.validate_model`.

  Args:
    model_config: the `model` section of a config (see `configs/`).
    **overrides: field overrides, e.g. `conv_impl="native"`.
  """
  from slowfast_jax import validate  # pylint: disable=g-import-not-at-top
  validate.validate_model(model_config)
  fields = {k: _as_tuples(v) for k, v in model_config.to_dict().items()}
  fields.update(overrides)
  return VideoResNet(**fields)


def input_shapes(model_config: ml_collections.ConfigDict, crop_size: int,
                 batch_size: int = 1) -> list[tuple[int, ...]]:
  """Shapes of the pathway inputs `(batch, time, crop, crop, 3)`, Slow first."""
  frames = [model_config.num_frames]
  if model_config.arch == "slowfast":
    frames = [model_config.num_frames // model_config.alpha,
              model_config.num_frames]
  return [(batch_size, t, crop_size, crop_size, 3) for t in frames]


__all__ = ["ARCHS", "OUTPUTS", "VideoResNet", "build_model", "input_shapes",
           "pathway_names"]
