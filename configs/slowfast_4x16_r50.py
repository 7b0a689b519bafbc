"""SlowFast 4×16, ResNet-50 (release: configs/Kinetics/SLOWFAST_4x16_R50.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='slowfast', depth=50, num_frames=32, alpha=8, fusion_kernel=5)
  return config_lib.kinetics_config(model, sampling_rate=2)
