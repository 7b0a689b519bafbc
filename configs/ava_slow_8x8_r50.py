"""AVA Slow-only, ResNet-50 (release: configs/AVA/c2/SLOW_8x8_R50.yaml; despite
the name, 4 frames at sampling rate 16)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.ava_model_config(
      aligned=False, arch='slow', depth=50, num_frames=4,
      nonlocal_instantiation='softmax')
  data = config_lib.ava_data_config(
      sampling_rate=16, test_crop_size=256, detection_score_thresh=0.9,
      train_predict_box_lists=[], test_predict_box_lists=[
          'person_box_67091280_iou75/ava_detection_val_boxes_and_labels.csv'])
  return config_lib.ava_config(model, data, global_batch_size=64,
                               short_schedule=False)
