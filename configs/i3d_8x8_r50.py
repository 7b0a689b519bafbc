"""I3D 8×8, ResNet-50 (release: configs/Kinetics/I3D_8x8_R50.yaml)."""

from slowfast_jax import config_lib


def get_config():
  model = config_lib.model_config(
      arch='i3d', depth=50, num_frames=8, nonlocal_instantiation='softmax')
  return config_lib.kinetics_config(model, sampling_rate=8)
