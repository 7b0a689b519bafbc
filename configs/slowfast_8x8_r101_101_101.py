"""SlowFast 8×8, ResNet-101, temporal kernels in all 23 res4 blocks
(release: configs/Kinetics/c2/SLOWFAST_8x8_R101_101_101.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='slowfast', depth=101, num_frames=32, alpha=4, fusion_kernel=5,
      num_block_temp_kernel=[[3, 3], [4, 4], [23, 23], [3, 3]])
  return config_lib.kinetics_config(model, sampling_rate=2)
