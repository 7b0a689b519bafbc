r"""Demo with the release's multigrid schedule (docs/training.md#multigrid).

  python train.py --config configs/demo_multigrid.py --workdir /tmp/demo_mg

The demo (`configs/demo.py`: SlowFast R50 at width 8, 16 Fast frames, 32 px
crops, batch 16, synthetic motion) with the LR stages the release's
multigrid configs use, `steps_with_relative_lrs` at epochs 0, 14, 18 of 22
(its SSv2 multigrid recipe's stages), both cycles on and every MULTIGRID.*
default: long-cycle shapes of 4, 8, 8, 16 frames at 23, 23, 32, 32 px with
batches 8x, 4x, 2x, 1x, short-cycle crops of 16 and 23 px. With
`--config.multigrid.short_cycle=False --config.multigrid.long_cycle=False`
the same recipe trains with the plain schedule.
"""

import importlib.util
import pathlib

from slowfast_jax import config_lib


def _demo_config():
  path = pathlib.Path(__file__).with_name("demo.py")
  spec = importlib.util.spec_from_file_location("configs.demo", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.demo_config("slowfast")


def get_config():
  config = _demo_config()
  config.num_epochs = 22
  config.optim.lr_policy = "steps_with_relative_lrs"
  config.optim.steps = (0, 14, 18)
  config.optim.lrs = (1.0, 0.1, 0.01, 0.001)
  config.eval_every_epochs = 22  # At the end.
  config.multigrid = config_lib.multigrid_config(short_cycle=True,
                                                 long_cycle=True)
  return config
