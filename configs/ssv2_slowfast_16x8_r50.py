"""Something-Something v2 SlowFast 16×8, ResNet-50
(release: configs/SSv2/SLOWFAST_16x8_R50.yaml).

Fine-tunes a Kinetics SlowFast 8×8 R50 (`--config.init_from=DIR`, a
converted SLOWFAST_8x8_R50.pkl; the classifier starts new). docs/ssv2.md.
"""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='slowfast', depth=50, num_frames=64, alpha=4, fusion_kernel=7)
  return config_lib.ssv2_config(model)
