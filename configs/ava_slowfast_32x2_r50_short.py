"""AVA SlowFast 32×2, ResNet-50, short schedule, aligned RoIAlign
(release: configs/AVA/SLOWFAST_32x2_R50_SHORT.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.ava_model_config(
      aligned=True, arch='slowfast', depth=50, num_frames=32, alpha=4,
      fusion_kernel=7)
  return config_lib.ava_config(model, sampling_rate=2, global_batch_size=64,
                               short_schedule=True, test_crop_size=224)
