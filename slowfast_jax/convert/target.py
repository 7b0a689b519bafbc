"""What a conversion must fill: the Flax model's variables, named as in torch.

The table is generated from the model itself (`jax.eval_shape` of its init, so
nothing is computed even for full-size models), which keeps every preset and
every future layer covered without hand-written lists.
"""

import dataclasses
import functools
import json

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from slowfast_jax import models
from slowfast_jax.convert import names

CONV = "conv"    # torch (O, I, kT, kH, kW) ↔ Flax (kT, kH, kW, I, O)
DENSE = "dense"  # torch (O, I) ↔ Flax (I, O)
VECTOR = "vector"  # BN parameters and statistics, biases: same layout


@dataclasses.dataclass(frozen=True)
class TargetVariable:
  """One Flax variable and the torch tensor that fills it."""
  collection: str         # "params" or "batch_stats"
  path: tuple[str, ...]   # module path + leaf name inside the collection
  shape: tuple[int, ...]  # Flax shape
  dtype: np.dtype
  layout: str             # CONV, DENSE or VECTOR

  @property
  def torch_shape(self) -> tuple[int, ...]:
    if self.layout == CONV:
      kt, kh, kw, i, o = self.shape
      return (o, i, kt, kh, kw)
    if self.layout == DENSE:
      return tuple(reversed(self.shape))
    return self.shape


def to_flax_layout(array: np.ndarray, layout: str) -> np.ndarray:
  """A torch-layout tensor → the Flax layout of `layout`."""
  if layout == CONV:
    return np.ascontiguousarray(array.transpose(2, 3, 4, 1, 0))
  if layout == DENSE:
    return np.ascontiguousarray(array.T)
  return array


def abstract_variables(model_config: ml_collections.ConfigDict) -> dict:
  """Shapes/dtypes of the model's `{'params', 'batch_stats'}`, computed abstractly."""
  model = models.build_model(model_config)
  inputs = [jax.ShapeDtypeStruct(shape, jnp.float32) for shape in
            models.input_shapes(model_config, model_config.train_crop_size)]
  rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
  variables = jax.eval_shape(
      lambda rngs, x: model.init(rngs, x, train=False), rngs, inputs)
  return flax.core.unfreeze(variables)


def target_variables(model_config: ml_collections.ConfigDict
                     ) -> dict[str, TargetVariable]:
  """PySlowFast state-dict name → the Flax variable it fills, for every variable."""
  return dict(_target_variables(model_config.to_json(sort_keys=True)))


@functools.lru_cache(maxsize=16)  # Tracing a full-size model takes a second.
def _target_variables(model_config_json: str) -> dict[str, TargetVariable]:
  model_config = ml_collections.ConfigDict(json.loads(model_config_json))
  targets = {}
  for collection, tree in abstract_variables(model_config).items():
    for path, leaf in flax.traverse_util.flatten_dict(tree).items():
      layout = VECTOR
      if path[-1] == "kernel":
        layout = CONV if len(leaf.shape) == 5 else DENSE
      name = names.flax_to_pyslowfast(collection, path)
      if name in targets:
        raise ValueError(f"Two Flax variables map to {name}.")
      targets[name] = TargetVariable(collection, tuple(path), tuple(leaf.shape),
                                     np.dtype(leaf.dtype), layout)
  return targets
