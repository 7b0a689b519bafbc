r"""Demo, Slow pathway only: `configs/demo.py` without the Fast pathway.

  python train.py --config configs/demo_slow_only.py --workdir /tmp/demo_slow

Same data, width, crops, schedule and budget as the SlowFast demo; the
network sees the 4 frames its Slow pathway sees (every 10th frame).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  return demo.demo_config("slow")
