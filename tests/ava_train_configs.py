"""A tiny `configs/demo_ava.py` for the AVA training tests (`train.py
--config tests/ava_train_configs.py --config.data.data_dir=DIR`)."""

import pathlib

from slowfast_jax import validate

DEMO = pathlib.Path(__file__).resolve().parents[1] / "configs" / "demo_ava.py"


def get_config():
  """Depth 18, width 8, 8 frames, 32 px crops; 4 training and 3 validation
  movies of 4 s at 48x64 px (keyframes at seconds 1 and 2); batches of 4: 2
  steps per epoch, 3 epochs, a checkpoint every 2 steps, validation at the
  end."""
  config = validate.load_config_file(str(DEMO))
  # Depth 18 (bottleneck blocks 2, 2, 2, 2): a detector, not an R50, is
  # what these tests need; every block of a stage takes its temporal kernel.
  config.model.depth = 18
  config.model.num_block_temp_kernel = [
      [2] * len(stage) for stage in config.model.num_block_temp_kernel]
  config.model.width_per_group = 8
  config.model.num_frames = 8
  config.model.train_crop_size = 32
  data = config.data
  data.name = "ava_synthetic_tiny"
  data.train_jitter_scales = [32, 40]
  data.test_crop_size = 48
  data.demo_train_movies = 4
  data.demo_val_movies = 3
  data.demo_frame_size = (48, 64)
  data.demo_seconds = 4.0
  data.keyframe_seconds = (1, 2)
  config.global_batch_size = 4
  config.eval.batch_size = 4
  config.num_epochs = 3
  config.optim.warmup_epochs = 1.0
  config.optim.steps = (0, 2)
  config.optim.lrs = (1.0, 0.1)
  config.eval_every_epochs = 3
  config.checkpoint_every_steps = 2
  config.keep_checkpoints = 3
  config.log_every_steps = 1
  return config
