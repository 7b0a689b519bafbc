"""Flax modules of the SlowFast / Slow / C2D / I3D ResNet family."""

import jax.numpy as jnp
import ml_collections

from slowfast_jax.models.video_resnet import pathway_names
from slowfast_jax.models.video_resnet import VideoResNet

ARCHS = ("slowfast", "slow", "c2d", "c2d_nopool", "i3d")


def build_model(model_config: ml_collections.ConfigDict, **overrides) -> VideoResNet:
  """Builds the network described by `config.model`.

  Args:
    model_config: the `model` section of a config (see `configs/`).
    **overrides: attribute overrides, e.g. `dtype=jnp.bfloat16`.
  """
  c = model_config
  if c.arch not in ARCHS:
    raise ValueError(f"model.arch={c.arch!r}; expected one of {ARCHS}.")
  if c.depth not in (50, 101):
    raise ValueError(f"model.depth={c.depth}; expected 50 or 101.")
  if c.arch == "slowfast" and c.num_frames % c.alpha:
    raise ValueError(f"model.num_frames={c.num_frames} is not divisible by "
                     f"model.alpha={c.alpha}.")
  kwargs = dict(
      arch=c.arch,
      depth=c.depth,
      num_classes=c.num_classes,
      num_frames=c.num_frames,
      alpha=c.alpha,
      beta_inv=c.beta_inv,
      fusion=c.fusion,
      fusion_conv_channel_ratio=c.fusion_conv_channel_ratio,
      fusion_kernel=c.fusion_kernel,
      width_per_group=c.width_per_group,
      num_block_temp_kernel=tuple(tuple(s) for s in c.num_block_temp_kernel),
      nonlocal_location=tuple(
          tuple(tuple(p) for p in s) for s in c.nonlocal_location),
      nonlocal_instantiation=c.nonlocal_instantiation,
      nonlocal_pool=tuple(c.nonlocal_pool),
      dropout_rate=c.dropout_rate,
      train_crop_size=c.train_crop_size,
      bn_momentum=c.bn_momentum,
      bn_epsilon=c.bn_epsilon,
      bn_group_size=c.bn_group_size,
      conv_impl=c.conv_impl,
      dtype=jnp.dtype(c.dtype),
      **detection_kwargs(c),
  )
  kwargs.update(overrides)
  return VideoResNet(**kwargs)


def detection_kwargs(c: ml_collections.ConfigDict) -> dict:
  """Res stage strides/dilations and the detection head, if the config has them
  (the AVA presets, `config_lib.ava_model_config`)."""
  kwargs = {}
  if "spatial_strides" in c:
    kwargs["spatial_strides"] = tuple(c.spatial_strides)
    kwargs["spatial_dilations"] = tuple(c.spatial_dilations)
  if "detection" in c and c.detection.enable:
    kwargs.update(detection=True, detection_aligned=c.detection.aligned,
                  roi_resolution=c.detection.roi_xform_resolution,
                  roi_spatial_scale_factor=c.detection.spatial_scale_factor)
  return kwargs


def input_shapes(model_config: ml_collections.ConfigDict, crop_size: int,
                 batch_size: int = 1) -> list[tuple[int, ...]]:
  """Shapes of the pathway inputs `(batch, time, crop, crop, 3)`, Slow first."""
  frames = [model_config.num_frames]
  if model_config.arch == "slowfast":
    frames = [model_config.num_frames // model_config.alpha,
              model_config.num_frames]
  return [(batch_size, t, crop_size, crop_size, 3) for t in frames]


__all__ = ["ARCHS", "VideoResNet", "build_model", "input_shapes",
           "pathway_names"]
