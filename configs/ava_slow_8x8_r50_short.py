"""AVA Slow-only, ResNet-50, short schedule, aligned RoIAlign
(release: configs/AVA/SLOW_8x8_R50_SHORT.yaml; 4 frames at sampling rate 16)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.ava_model_config(
      aligned=True, arch='slow', depth=50, num_frames=4,
      nonlocal_instantiation='softmax')
  data = config_lib.ava_data_config(
      sampling_rate=16, test_crop_size=256, detection_score_thresh=0.9,
      train_predict_box_lists=[
          'ava_train_v2.2.csv',
          'person_box_67091280_iou90/'
          'ava_detection_train_boxes_and_labels_include_negative_v2.2.csv'],
      test_predict_box_lists=[
          'person_box_67091280_iou90/ava_detection_val_boxes_and_labels.csv'])
  return config_lib.ava_config(model, data, global_batch_size=64,
                               short_schedule=True)
