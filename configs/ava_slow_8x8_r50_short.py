"""AVA Slow-only, ResNet-50, short schedule, aligned RoIAlign
(release: configs/AVA/SLOW_8x8_R50_SHORT.yaml; 4 frames at sampling rate 16)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.ava_model_config(
      aligned=True, arch='slow', depth=50, num_frames=4,
      nonlocal_instantiation='softmax')
  return config_lib.ava_config(
      model, sampling_rate=16, global_batch_size=64, short_schedule=True,
      detection_score_thresh=0.9)
