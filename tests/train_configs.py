"""Tiny training configs for the training tests (fake data, small model)."""

from slowfast_jax import config_lib


def tiny_train_config(*, arch: str = "slowfast", batch: int = 8,
                      train_size: int = 32, epochs: int = 1,
                      bn_group_size: int = 0):
  """A SlowFast R50 at width 8, 8 frames, 32 px crops, on `fake` data.

  `train_size // batch` steps per epoch.
  """
  model = config_lib.model_config(arch=arch, num_frames=8, alpha=4,
                                  fusion_kernel=5)
  model.width_per_group = 8
  model.num_classes = 4
  model.bn_group_size = bn_group_size
  config = config_lib.kinetics_config(model)
  config.model.train_crop_size = 32
  config.data.name = "fake"
  config.data.fake_train_size = train_size
  config.data.fake_val_size = 8
  config.data.test_crop_size = 32
  config.global_batch_size = batch
  config.num_epochs = epochs
  config.optim.warmup_epochs = 0.0
  config.optim.base_lr = 0.05
  config.optim.base_batch_size = batch
  config.eval.batch_size = 8
  config.eval_every_epochs = 1000  # Only at the end.
  config.log_every_steps = 1
  config.checkpoint_every_steps = 1
  config.keep_checkpoints = 2
  return config


def get_config():
  """`--config tests/train_configs.py` for `train.py` in subprocess tests."""
  return tiny_train_config()
