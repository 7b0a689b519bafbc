"""A tiny config for eval tests: `eval.py --config tests/eval_configs.py`.

Sized for the tiny dataset of `data_fixtures` (short side 32): a SlowFast of
depth 18 (bottleneck blocks 2, 2, 2, 2) and width 8 whose head pool is sized for 32-px crops, tested at 64 px so the head
meets a 2×2 map, as the release's 256-px test of a 224-px model does.
"""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(arch="slowfast", depth=18, num_frames=8,
                                  alpha=4, fusion_kernel=5)
  model.width_per_group = 8
  model.num_classes = 3
  model.train_crop_size = 32
  config = config_lib.kinetics_config(model)
  config.data.name = "tiny"
  config.data.data_dir = ""
  config.data.test_split = "val"
  config.data.test_crop_size = 64
  config.eval.num_clips = 2
  config.eval.num_crops = 3
  config.eval.batch_size = 4
  return config


def save_tiny_checkpoint(directory, *, num_classes=None, metadata=None):
  """Random variables of `get_config()`'s model (optionally `num_classes`)
  saved with `checkpoint.save_variables`; returns `(config, model,
  variables)`."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from model_configs import random_variables  # pylint: disable=g-import-not-at-top
  from slowfast_jax import checkpoint  # pylint: disable=g-import-not-at-top
  from slowfast_jax import models  # pylint: disable=g-import-not-at-top
  config = get_config()
  if num_classes:
    config.model.num_classes = num_classes
  model = models.build_model(config.model)
  inputs = [jnp.zeros(s) for s in models.input_shapes(config.model, 32)]
  variables = jax.tree.map(np.asarray, random_variables(model, inputs))
  checkpoint.save_variables(directory, variables, metadata=metadata)
  return config, model, variables
