"""Training steps of a multigrid run: one jitted step per phase.

`training.multigrid.step_table` gives each global step a phase (batch,
frames, crop, BatchNorm group). `PhaseSteps` is the training loop's
`train_fn`: it follows the step count from the start step and runs each step
with the jitted train step of its phase, built on first use with a model for
the phase's shape (`phase_model`). Each phase's step sees a single input
shape, so it compiles once: a run compiles at most `len(table.phases)`
training programs (`compiled`).
"""

import math
from typing import Any, Callable

from absl import logging
import jax.numpy as jnp
import ml_collections
import optax

from slowfast_jax import models
from slowfast_jax.training import multigrid


def phase_model(model_config: ml_collections.ConfigDict,
                phase: multigrid.Phase) -> models.VideoResNet:
  """The model for `phase`: its frames and BatchNorm group, and a head that
  average-pools the whole res5 map (side `ceil(crop / 32)`), as the
  release's head pools adaptively under multigrid. Parameters are shared
  with `build_model(model_config)`."""
  return models.build_model(
      model_config, num_frames=phase.num_frames,
      train_crop_size=32 * math.ceil(phase.crop_size / 32),
      bn_group_size=phase.bn_group_size)


def table_schedule(table: multigrid.StepTable) -> optax.Schedule:
  """`schedule(step)`: the table's learning rate (its last after the end)."""
  rates = jnp.asarray(table.learning_rate, jnp.float32)
  return lambda step: rates[jnp.minimum(step, table.num_steps - 1)]


class PhaseSteps:
  """`train_fn(state, batch)` that runs step s with its phase's program.

  Attributes:
    compiled: phases whose step has been built (each compiles once).
  """

  def __init__(self, table: multigrid.StepTable, start_step: int,
               make_step: Callable[..., Callable[..., Any]],
               model_config: ml_collections.ConfigDict):
    """`make_step(model)` returns a jitted train step for `model`."""
    self._table = table
    self._step = start_step
    self._make_step = make_step
    self._model_config = model_config
    self._steps: dict[int, Callable[..., Any]] = {}

  @property
  def compiled(self) -> int:
    return len(self._steps)

  def __call__(self, state, batch):
    index = int(self._table.phase[self._step])
    phase = self._table.phases[index]
    expected = (phase.batch_size, phase.num_frames, phase.crop_size,
                phase.crop_size)
    if tuple(batch["video"].shape[:4]) != expected:
      raise ValueError(f"step {self._step}: batch of shape "
                       f"{tuple(batch['video'].shape)}, but the multigrid "
                       f"phase {phase} expects {expected} clips")
    if index not in self._steps:
      logging.info("Multigrid: building the step of phase %d (%s) at step "
                   "%d.", index, phase, self._step)
      self._steps[index] = self._make_step(
          phase_model(self._model_config, phase))
    self._step += 1
    return self._steps[index](state, batch)
