"""C2D 8×8, ResNet-50 with the 2×1×1 temporal pool after res2
(release: configs/Kinetics/C2D_8x8_R50.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='c2d', depth=50, num_frames=8, nonlocal_instantiation='softmax')
  return config_lib.kinetics_config(model, sampling_rate=8)
