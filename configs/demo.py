r"""Demo: a small SlowFast on the synthetic motion dataset, on a CPU.

  python train.py --config configs/demo.py --workdir /tmp/demo

The dataset (8 classes: 4 directions x 2 speeds of a periodic texture
drifting across the frame, where the fast speeds alias between the Slow
pathway's frames; `slowfast_jax.data.synthetic`) is generated and
prepared on first use in `config.data.data_dir` (default
`~/.cache/slowfast_jax/data`, or `$SLOWFAST_JAX_DATA`). The network is the
release's SlowFast R50 (stage depths 3, 4, 6, 3) shrunk to width 8, 16 Fast /
4 Slow frames and 32 px crops, so a 2-core CPU trains it in minutes.
"""

import os

from slowfast_jax import config_lib
from slowfast_jax.data import synthetic


def default_data_dir() -> str:
  return os.environ.get(
      "SLOWFAST_JAX_DATA",
      os.path.join(os.path.expanduser("~"), ".cache", "slowfast_jax", "data"))


def demo_config(arch: str = "slowfast"):
  """The demo recipe for `arch`: "slowfast", or one of its pathways alone.

  "slow": the Slow pathway (4 frames, 10 apart); "fast": the Fast pathway
  (16 frames, 2 apart, 1/8 of the widths), the paper's Fast-only ablation.
  """
  if arch == "slowfast":
    model = config_lib.model_config(arch="slowfast", num_frames=16, alpha=4,
                                    fusion_kernel=5)
    sampling_rate = 2
  elif arch == "slow":
    model = config_lib.model_config(arch="slow", num_frames=4)
    sampling_rate = 8
  elif arch == "fast":
    model = config_lib.model_config(arch="fast", num_frames=16)
    sampling_rate = 2
  else:
    raise ValueError(f"arch={arch!r}; expected 'slowfast', 'slow' or 'fast'.")
  model.width_per_group = 8
  model.num_classes = 8
  model.train_crop_size = 32
  config = config_lib.kinetics_config(model, sampling_rate=sampling_rate)

  data = config.data
  data.name = synthetic.DEMO_NAME
  data.data_dir = default_data_dir()
  # Generated and prepared on first use (slowfast_jax.data.synthetic).
  data.generate_demo = True
  # 200 videos per class, each seen 10 times: with 100 seen 20 times,
  # validation top-1 fell to 0.93-0.96 in some seeds (docs/performance.md).
  data.demo_videos_per_class = 200
  data.demo_val_videos_per_class = 20
  data.demo_frame_size = [64, 64]  # (height, width): crops see all of it.
  data.demo_short_side = 64
  data.train_jitter_scales = [32, 32]  # The whole frame height.
  data.test_crop_size = 32
  data.random_flip = False  # A flip turns "left" into "right".
  data.val_view = "center"  # Deterministic validation view.
  # A clip spans num_frames * sampling_rate frames at target_fps: 31 of the
  # 30 fps videos here, so the Fast pathway's frames are exactly 2 apart and
  # the Slow pathway's exactly 10 (at 30 fps, 32 frames: 2-3 and 10-11).
  data.target_fps = 960 / 31
  data.shuffle_buffer = 1600  # The whole training split.

  config.global_batch_size = 16
  config.num_epochs = 10  # 1000 steps.
  config.optim.base_lr = 0.4  # 0.1 at batch 16.
  config.optim.warmup_epochs = 1.0
  config.optim.warmup_start_lr = 0.04
  config.eval.batch_size = 16
  config.log_every_steps = 20
  config.eval_every_epochs = 5
  config.checkpoint_every_steps = 250
  config.keep_checkpoints = 2
  return config


def get_config(arch: str = "slowfast"):
  """`--config configs/demo.py` (SlowFast) or `configs/demo.py:fast`."""
  return demo_config(arch)
