"""The on-device half of the input pipeline (runs inside jit).

Clips cross from host to device as uint8, a quarter of the bytes of float32;
normalization and the Slow/Fast split happen here.
"""

import jax.numpy as jnp

from slowfast_jax.data import sampling


def normalize(video, mean, std) -> jnp.ndarray:
  """uint8 `(..., channels)` -> float32 `(x / 255 - mean) / std`."""
  x = video.astype(jnp.float32) / 255.0
  mean = jnp.asarray(mean, jnp.float32)
  std = jnp.asarray(std, jnp.float32)
  return (x - mean) / std


def prepare_pathways(video, model_config, data_config) -> list[jnp.ndarray]:
  """Model inputs from a batch of uint8 clips.

  Args:
    video: uint8 `(batch, time, height, width, 3)`, time = the network's
      `num_frames` (the Fast pathway's for SlowFast).
    model_config: `config.model` (`arch`, `alpha`).
    data_config: `config.data` (`mean`, `std`, `bgr`).

  Returns:
    float32 arrays: `[slow, fast]` for `arch == "slowfast"`, where slow =
    fast[:, long(linspace(0, T - 1, T // alpha))] as the release selects
    (`sampling.slow_pathway_indices`); `[clip]` for single-pathway archs.
    With `data_config.bgr` (release DATA.REVERSE_INPUT_CHANNEL) the channels
    are reversed after normalizing, as the release does.
  """
  x = normalize(video, data_config.mean, data_config.std)
  if data_config.get("bgr", False):
    x = x[..., ::-1]
  if model_config.arch != "slowfast":
    return [x]
  # Static indices (T is a static shape), so this is a cheap gather.
  slow_index = sampling.slow_pathway_indices(x.shape[1], model_config.alpha)
  return [x[:, slow_index], x]
