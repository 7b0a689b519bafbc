"""A tiny config for eval tests: `eval.py --config tests/eval_configs.py`.

Sized for the tiny dataset of `data_fixtures` (short side 32): a SlowFast of
width 8 whose head pool is sized for 32-px crops, tested at 64 px so the head
meets a 2×2 map, as the release's 256-px test of a 224-px model does.
"""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(arch="slowfast", num_frames=8, alpha=4,
                                  fusion_kernel=5)
  model.width_per_group = 8
  model.num_classes = 3
  model.train_crop_size = 32
  config = config_lib.kinetics_config(model)
  config.data.name = "tiny"
  config.data.data_dir = ""
  config.data.test_split = "val"
  config.data.test_crop_size = 64
  config.eval.num_clips = 2
  config.eval.num_crops = 3
  config.eval.batch_size = 4
  return config
