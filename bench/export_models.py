"""The export bench's and tests' models: a preset at a size, random weights."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# pylint: disable=g-import-not-at-top
import numpy as np

import model_configs  # tests/model_configs.py

# "tiny" for tests and smoke runs; "full" is the preset's real width, the
# Kinetics-400 classifier and a 224² crop.
SIZES = {"tiny": dict(width=8, classes=10, crop=64, frames=16),
         "full": dict(width=64, classes=400, crop=224, frames=None)}


def export_config(name: str, size: str = "tiny"):
  """Preset `name` at `size`, served at its training crop.

  `frames` is the clip length (the Fast pathway's for SlowFast); None keeps
  the preset's own.
  """
  if size not in SIZES:
    raise ValueError(f"size={size!r}; expected one of {sorted(SIZES)}.")
  s = SIZES[size]
  config = model_configs.load_preset(name)
  frames = s["frames"] or config.model.num_frames
  config.model = model_configs.tiny_model_config(
      name, width=s["width"], classes=s["classes"], crop=s["crop"],
      frames=frames)
  config.data.test_crop_size = s["crop"]
  return config


# Scale of the non-local blocks' parameters in `random_model_variables`.
NONLOCAL_SCALE = 0.1


def random_model_variables(config, seed: int = 0):
  """Random variables of `config.model` (see `model_configs.random_variables`).

  The non-local blocks' kernels and final BN scale are multiplied by
  `NONLOCAL_SCALE`: a dot-product block is cubic in its input, and with
  O(1)-gain random weights it overflows float32 within two blocks.
  """
  import jax
  import jax.numpy as jnp
  from slowfast_jax import models
  model = models.build_model(config.model)
  inputs = [jnp.zeros(s) for s in models.input_shapes(
      config.model, config.data.test_crop_size)]
  variables = model_configs.random_variables(model, inputs, seed)

  def tame(path, leaf):
    keys = [getattr(k, "key", "") for k in path]
    if any(str(k).startswith("nonlocal") for k in keys) and keys[-1] in (
        "kernel", "scale"):
      return leaf * NONLOCAL_SCALE
    return leaf

  return jax.tree_util.tree_map_with_path(tame, variables)


def clip_frames(config, batch: int, seed: int = 1) -> np.ndarray:
  """Random uint8 clips `(batch, num_frames, crop, crop, 3)`."""
  from slowfast_jax.export import serving
  return np.random.RandomState(seed).randint(
      0, 256, serving.frames_shape(config, batch), dtype=np.uint8)
