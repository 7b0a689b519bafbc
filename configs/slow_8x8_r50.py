"""Slow-only 8×8, ResNet-50 (release: configs/Kinetics/SLOW_8x8_R50.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='slow', depth=50, num_frames=8)
  return config_lib.kinetics_config(model, sampling_rate=8)
