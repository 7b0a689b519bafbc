"""A tiny Charades config: `--config tests/charades_configs.py`.

The recipe of `configs/charades_slowfast_16x8_r50.py` (multi-label, bce_logit,
Charades sampling, inverse-uniform jitter, BGR, max over views) on a SlowFast
of width 8 and 8 frames, sized for the set of `charades_fixtures` prepared at
short side 40: 32-px training crops, 2 × 3 test views of 40 px, batches of
all 8 training videos for 12 steps at a constant rate, validation only at the
end. Set `data.data_dir`.
"""

from slowfast_jax import config_lib

NAME = "charades_tiny"


def tiny_model():
  """A SlowFast of width 8, 8 frames, 32-px training crops."""
  model = config_lib.model_config(arch="slowfast", num_frames=8, alpha=4,
                                  fusion_kernel=5)
  model.width_per_group = 8
  model.train_crop_size = 32
  return model


def shrink(config, name: str):
  """A release recipe sized for a generated set of 8 training videos with
  frames of short side 40: jitter [32, 40], 40-px test crops, 12 steps of
  all 8 videos, one validation at the end."""
  config.model.bn_group_size = 0
  config.data.name = name
  config.data.data_dir = ""
  config.data.train_jitter_scales = [32, 40]
  config.data.test_crop_size = 40
  config.data.shuffle_buffer = 16
  config.global_batch_size = 8
  config.optim.base_batch_size = 8
  config.optim.base_lr = 0.1
  config.optim.steps = (0,)
  config.optim.lrs = (1.0,)
  config.optim.warmup_epochs = 0.0
  config.num_epochs = 12  # 8 training videos: 1 step an epoch.
  config.eval_every_epochs = 1000  # Only at the end.
  config.eval.batch_size = 4
  config.precise_bn.enabled = False
  config.log_every_steps = 1
  config.keep_checkpoints = 1
  return config


def get_config():
  config = shrink(config_lib.charades_config(tiny_model()), NAME)
  config.model.num_classes = 6
  config.eval.num_clips = 2
  config.eval.num_crops = 3
  return config
