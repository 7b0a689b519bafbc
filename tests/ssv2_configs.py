"""A tiny SSv2 config: `--config tests/ssv2_configs.py`.

The recipe of `configs/ssv2_slowfast_16x8_r50.py` (SSv2 segment sampling, no
flip, inverse-uniform jitter, BGR, one test view: the first crop) on the
tiny SlowFast of `charades_configs` (width 8, 8 frames), sized for the set
of `ssv2_fixtures` prepared as its videos are (48 × 64): 32-px training
crops, one 40-px test view, batches of all 8 training videos for 12 steps at
a constant rate, validation only at the end. Set `data.data_dir`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import charades_configs  # pylint: disable=g-import-not-at-top,wrong-import-position
from slowfast_jax import config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "ssv2_tiny"


def get_config():
  return charades_configs.shrink(
      config_lib.ssv2_config(charades_configs.tiny_model()), NAME)
