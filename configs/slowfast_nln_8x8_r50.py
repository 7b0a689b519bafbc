"""SlowFast 8×8, ResNet-50 + non-local in Slow res3/res4 (release: configs/Kinetics/SLOWFAST_NLN_8x8_R50.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='slowfast', depth=50, num_frames=32, alpha=4, fusion_kernel=5,
      nonlocal_location=[[[], []], [[1, 3], []], [[1, 3, 5], []], [[], []]],
      nonlocal_instantiation='dot_product')
  return config_lib.kinetics_config(model, sampling_rate=2)
