"""C2D 8×8, ResNet-50 without the temporal pool: the model zoo's C2D
(release: configs/Kinetics/c2/C2D_NOPOOL_8x8_R50.yaml, arch c2d_nopool)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='c2d_nopool', depth=50, num_frames=8,
      nonlocal_instantiation='softmax')
  return config_lib.kinetics_config(model, sampling_rate=8)
