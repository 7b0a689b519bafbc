"""`train.py --config tests/multigrid_train_config.py`: a tiny multigrid run.

The tiny Slow R50 of `train_configs` on fake data with the short cycle (the
long cycle needs a steps LR policy and compiles more phases): crops 16, 23,
32 px with batches 16, 8, 4; 28 clips, 3 steps per epoch, 2 * 1.5 = 3
epochs, 9 steps.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

# pylint: disable=g-import-not-at-top,wrong-import-position
from slowfast_jax import config_lib
import train_configs


def get_config():
  config = train_configs.tiny_train_config(arch="slow", batch=4,
                                           train_size=28, epochs=2)
  config.optim.base_lr = 0.002
  config.checkpoint_every_steps = 2
  config.keep_checkpoints = 5
  config.multigrid = config_lib.multigrid_config(short_cycle=True,
                                                 long_cycle=False)
  return config
