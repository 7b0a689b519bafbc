"""AVA SlowFast 32×2, ResNet-50 (release: configs/AVA/c2/SLOWFAST_32x2_R50.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.ava_model_config(
      aligned=False, arch='slowfast', depth=50, num_frames=32, alpha=4,
      fusion_kernel=7)
  return config_lib.ava_config(model, sampling_rate=2, global_batch_size=16,
                               short_schedule=False)
