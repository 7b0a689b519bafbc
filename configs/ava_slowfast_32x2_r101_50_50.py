"""AVA SlowFast 32×2, ResNet-101 "_50_50", non-local blocks in res4
(release: configs/AVA/c2/SLOWFAST_32x2_R101_50_50.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.ava_model_config(
      aligned=False, nonlocal_pool=(2, 2, 2), arch='slowfast', depth=101,
      num_frames=32, alpha=4, fusion_kernel=5,
      num_block_temp_kernel=[[3, 3], [4, 4], [6, 6], [3, 3]],
      nonlocal_location=[[[], []], [[], []], [[6, 13, 20], []], [[], []]])
  return config_lib.ava_config(model, sampling_rate=2, global_batch_size=16,
                               short_schedule=False)
