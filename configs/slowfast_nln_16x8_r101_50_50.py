"""SlowFast 16×8, ResNet-101 "_50_50" + non-local after Slow res4 blocks 6, 13, 20
(release: configs/Kinetics/c2/SLOWFAST_NLN_16x8_R101_50_50.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='slowfast', depth=101, num_frames=64, alpha=4, fusion_kernel=5,
      num_block_temp_kernel=[[3, 3], [4, 4], [6, 6], [3, 3]],
      nonlocal_location=[[[], []], [[], []], [[6, 13, 20], []], [[], []]],
      nonlocal_instantiation='dot_product')
  return config_lib.kinetics_config(model, sampling_rate=2)
