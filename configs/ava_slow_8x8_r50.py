"""AVA Slow-only, ResNet-50 (release: configs/AVA/c2/SLOW_8x8_R50.yaml; despite
the name, 4 frames at sampling rate 16)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.ava_model_config(
      aligned=False, arch='slow', depth=50, num_frames=4,
      nonlocal_instantiation='softmax')
  return config_lib.ava_config(
      model, sampling_rate=16, global_batch_size=64, short_schedule=False,
      detection_score_thresh=0.9, test_box_iou=75)
