"""Slow-only 4×16, ResNet-50 (release: configs/Kinetics/SLOW_4x16_R50.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='slow', depth=50, num_frames=4)
  return config_lib.kinetics_config(model, sampling_rate=16)
