"""Charades SlowFast 16×8, ResNet-50, multigrid
(release: configs/Charades/SLOWFAST_16x8_R50_multigrid.yaml).

Every value of the yaml, its MULTIGRID.* fields in `config.multigrid`:
training follows the release's multigrid schedule, both cycles
(docs/training.md#multigrid); with both turned off it trains the plain
`charades_slowfast_16x8_r50` recipe. Testing a converted multigrid
checkpoint works as for any preset. docs/charades.md.
"""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='slowfast', depth=50, num_frames=64, alpha=4, fusion_kernel=7)
  return config_lib.charades_config(model, multigrid=True)
