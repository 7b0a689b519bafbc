r"""Demo: action detection (AVA-style) with a small SlowFast, on a CPU.

  python train.py --config configs/demo_ava.py --workdir /tmp/demo_ava

The dataset (`slowfast_jax.data.ava_synthetic`: 240 training and 40
validation movies of 4 s with 1-3 textured "actors", each doing some of 4
motions of its texture: slide, bob, flicker, spin; ground truth and noisy
scored person boxes in the AVA CSV formats) is generated and prepared on
first use in `config.data.data_dir` (default
`~/.cache/slowfast_jax/data`, or `$SLOWFAST_JAX_DATA`). The model is the
release's AVA SlowFast (`configs/ava_slowfast_32x2_r50_short.py`: res5 dilated,
RoIAlign head, sigmoid BCE, its step schedule with warmup) shrunk to width 8,
16 Fast / 4 Slow frames and 64 px crops, trained from scratch; validation is
the frame-level mAP of the release's AVA protocol.
"""

from slowfast_jax import config_lib

from configs import demo


def get_config():
  model = config_lib.ava_model_config(
      aligned=True, arch="slowfast", depth=50, num_frames=16, alpha=4,
      fusion_kernel=5)
  model.width_per_group = 8
  model.num_classes = 4
  model.train_crop_size = 64
  config = config_lib.ava_config(model, sampling_rate=2, global_batch_size=16,
                                 short_schedule=True, test_crop_size=72)
  data = config.data
  data.name = "ava_synthetic_v2"
  data.data_dir = demo.default_data_dir()
  # Generated and prepared on first use (slowfast_jax.data.ava_synthetic).
  data.generate_demo = True
  data.demo_train_movies = 240
  data.demo_val_movies = 40
  data.demo_frame_size = (72, 96)  # (height, width)
  data.demo_seconds = 4.0
  data.keyframe_seconds = (1, 2)  # Every second but the first and last.
  data.train_jitter_scales = [64, 80]
  data.full_test_on_val = True  # Every val second (only 1 in 4 otherwise).
  config.init_from = ""
  config.num_epochs = 30
  config.optim.base_lr = 0.1
  config.optim.warmup_epochs = 2.0
  config.optim.warmup_start_lr = 0.01
  config.optim.steps = (0, 22, 27)
  config.optim.lrs = (1.0, 0.1, 0.01)
  config.log_every_steps = 20
  config.eval_every_epochs = 10
  config.checkpoint_every_steps = 250
  config.keep_checkpoints = 2
  return config
