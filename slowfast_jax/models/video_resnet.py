"""The ResNet video family of the release: SlowFast, Slow, C2D and I3D.

One module covers all four: SlowFast has two pathways (Slow first, Fast
second) joined by Fast→Slow fusions after the stem and res2..res4; the others
have a single pathway named `slow` (the release's pathway 0).
"""

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from slowfast_jax.models import detection_head as detection_lib
from slowfast_jax.models import fusion as fusion_lib
from slowfast_jax.models import head as head_lib
from slowfast_jax.models.blocks import ResStage
from slowfast_jax.models.norm import BatchNorm
from slowfast_jax.models.stem import Stem

STAGE_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
SPATIAL_STRIDES = (1, 2, 2, 2)  # res2..res5

# Temporal kernel per architecture: the stem's per pathway, then for each res
# stage a per-pathway list that is repeated over the blocks
# (the release's _TEMPORAL_KERNEL_BASIS).
STEM_TEMPORAL_KERNELS = {
    "slowfast": (1, 5), "slow": (1,), "c2d": (1,), "c2d_nopool": (1,),
    "i3d": (5,)}
STAGE_TEMPORAL_KERNELS = {
    "slowfast": (((1,), (3,)), ((1,), (3,)), ((3,), (3,)), ((3,), (3,))),
    "slow": (((1,),), ((1,),), ((3,),), ((3,),)),
    "c2d": (((1,),), ((1,),), ((1,),), ((1,),)),
    "c2d_nopool": (((1,),), ((1,),), ((1,),), ((1,),)),
    "i3d": (((3,),), ((3, 1),), ((3, 1),), ((1, 3),)),
}
# C2D and I3D halve time with a 2×1×1 max-pool after res2; the model zoo's
# C2D (C2D_NOPOOL_8x8_R50) does not.
TEMPORAL_POOL_AFTER_RES2 = {"slowfast": 1, "slow": 1, "c2d": 2,
                            "c2d_nopool": 1, "i3d": 2}


def pathway_names(arch: str) -> tuple[str, ...]:
  return ("slow", "fast") if arch == "slowfast" else ("slow",)


def block_temporal_kernels(basis: Sequence[int], num_blocks: int,
                           num_temporal_blocks: int) -> list[int]:
  """The basis repeated over the blocks, cut after `num_temporal_blocks`.

  E.g. basis (3, 1) over 6 blocks → [3, 1, 3, 1, 3, 1]; basis (3,) over 23
  blocks with 6 temporal ones (R101 "_50_50") → six 3s, then seventeen 1s.
  """
  kernels = (list(basis) * num_blocks)[:num_temporal_blocks]
  return kernels + [1] * (num_blocks - len(kernels))


class VideoResNet(nn.Module):
  """SlowFast / Slow / C2D / I3D ResNet; see `slowfast_jax.config_lib`.

  `arch` is one of `slowfast`, `slow`, `c2d`, `c2d_nopool`, `i3d`.

  Call with a list of pathway clips, each `(batch, time, height, width, 3)`
  float32 and normalized: `[slow, fast]` for SlowFast (Fast has α× the
  frames), `[clip]` otherwise.

  Returns:
    With `train=True`, or at the training crop: logits `(batch, classes)`
    (mean over positions if the pooled map has several). With `train=False`
    at a larger crop: the release's test output, softmax at each position of
    the pooled map averaged over positions, i.e. probabilities. With
    `probabilities=True`: always the release's test output (at the training
    crop it is the softmax of the logits).

  With `detection=True` (the release's DETECTION.ENABLE) the head is
  `DetectionHead` and the call takes `boxes` `(batch, max_boxes, 4)` (x1, y1,
  x2, y2 in input pixels) and `box_mask` `(batch, max_boxes)`; it returns
  logits `(batch, max_boxes, classes)` (see `detection_head`). Without boxes,
  each clip's whole frame is one box (what `init` uses).
  """
  arch: str = "slowfast"
  depth: int = 50
  num_classes: int = 400
  num_frames: int = 32
  alpha: int = 4
  beta_inv: int = 8
  fusion: str = "time_strided_conv"
  fusion_conv_channel_ratio: int = 2
  fusion_kernel: int = 7
  width_per_group: int = 64
  num_block_temp_kernel: Sequence[Sequence[int]] = ((3, 3), (4, 4), (6, 6),
                                                     (3, 3))
  nonlocal_location: Sequence[Sequence[Sequence[int]]] = ()
  nonlocal_instantiation: str = "dot_product"
  nonlocal_pool: Sequence[int] = (1, 2, 2)
  dropout_rate: float = 0.5
  train_crop_size: int = 224
  # res2..res5; the detection models use stride 1 and dilation 2 in res5.
  spatial_strides: Sequence[int] = SPATIAL_STRIDES
  spatial_dilations: Sequence[int] = (1, 1, 1, 1)
  detection: bool = False
  detection_aligned: bool = True
  roi_resolution: int = 7
  roi_spatial_scale_factor: int = 16
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  bn_group_size: int = 8
  conv_impl: str = "auto"
  dtype: jnp.dtype = jnp.float32

  def pathway_widths(self, stage: int) -> list[tuple[int, int]]:
    """(inner, out) widths of res stage `stage` (2..5) for each pathway."""
    inner = self.width_per_group * 2**(stage - 2)
    widths = [(inner, 4 * inner)]
    if self.arch == "slowfast":
      widths.append((inner // self.beta_inv, 4 * inner // self.beta_inv))
    return widths

  def head_pool_windows(self) -> list[tuple[int, int, int]]:
    """Per-pathway average-pool window, sized for the training crop."""
    side = self.train_crop_size // 32
    frames = self.num_frames // TEMPORAL_POOL_AFTER_RES2[self.arch]
    if self.arch == "slowfast":
      return [(frames // self.alpha, side, side), (frames, side, side)]
    return [(frames, side, side)]

  def check_inputs(self, pathways: Sequence[jax.Array]) -> None:
    names = pathway_names(self.arch)
    if len(pathways) != len(names):
      raise ValueError(
          f"model.arch={self.arch!r} takes {len(names)} pathway input(s) "
          f"{list(names)}, got {len(pathways)}.")
    for name, clip in zip(names, pathways):
      if clip.ndim != 5 or clip.shape[-1] != 3:
        raise ValueError(
            f"The {name} pathway input has shape {clip.shape}; expected "
            "(batch, time, height, width, 3).")
    if self.arch == "slowfast":
      slow_frames, fast_frames = pathways[0].shape[1], pathways[1].shape[1]
      if fast_frames != self.alpha * slow_frames:
        raise ValueError(
            f"The Fast pathway has {fast_frames} frames and the Slow pathway "
            f"{slow_frames}; with model.alpha={self.alpha} Fast must have "
            "alpha × Slow frames.")

  def fuse(self, stage: int, slow: jax.Array, fast: jax.Array, bn,
           train: bool) -> jax.Array:
    """The Slow input of the next stage: `[slow, fused(fast)]` on channels."""
    if self.fusion == "time_strided_conv":
      features = fusion_lib.fused_channels(self.fusion, fast.shape[-1],
                                           self.alpha,
                                           self.fusion_conv_channel_ratio)
      fused = fusion_lib.TimeStridedConvFusion(
          features, self.fusion_kernel, self.alpha, bn=bn,
          conv_impl=self.conv_impl, dtype=self.dtype,
          name=f"fuse{stage}")(fast, train)
    elif self.fusion == "time_to_channel":
      fused = fusion_lib.time_to_channel(fast, self.alpha)
    elif self.fusion == "time_strided_sample":
      fused = fusion_lib.time_strided_sample(fast, self.alpha)
    else:
      fusion_lib.fused_channels(self.fusion, 0, 1, 1)  # Raises a clear error.
    return fusion_lib.fuse_fast_to_slow(slow, fused)

  def detection_head(self, x: list[jax.Array], pathways: Sequence[jax.Array],
                     boxes: jax.Array | None, box_mask: jax.Array | None,
                     train: bool) -> jax.Array:
    """Per-box logits `(batch, max_boxes, classes)` of the detection models."""
    if boxes is None:
      boxes, box_mask = detection_lib.whole_frame_boxes(pathways)
    elif box_mask is None:
      box_mask = jnp.ones(boxes.shape[:2], bool)
    return detection_lib.DetectionHead(
        self.num_classes, self.dropout_rate, self.detection_aligned,
        self.roi_resolution, self.roi_spatial_scale_factor,
        name="head")(x, boxes, box_mask, train)

  @nn.compact
  def __call__(self, pathways: Sequence[jax.Array], train: bool = False,
               probabilities: bool = False, boxes: jax.Array | None = None,
               box_mask: jax.Array | None = None) -> jax.Array:
    self.check_inputs(pathways)
    names = pathway_names(self.arch)
    two_pathways = len(names) == 2
    bn = functools.partial(BatchNorm, momentum=self.bn_momentum,
                           epsilon=self.bn_epsilon,
                           group_size=self.bn_group_size, dtype=self.dtype)
    common = dict(bn=bn, conv_impl=self.conv_impl, dtype=self.dtype)

    stem_widths = [self.width_per_group]
    if two_pathways:
      stem_widths.append(self.width_per_group // self.beta_inv)
    x = [
        Stem(width, kernel, name=f"{name}_stem", **common)(clip, train)
        for name, clip, width, kernel in zip(
            names, pathways, stem_widths, STEM_TEMPORAL_KERNELS[self.arch])
    ]
    self.sow("intermediates", "stem", tuple(x))
    if two_pathways:
      x[0] = self.fuse(1, x[0], x[1], bn, train)

    for stage in range(2, 6):
      stage_index = stage - 2
      num_blocks = STAGE_DEPTHS[self.depth][stage_index]
      for p, name in enumerate(names):
        inner, out = self.pathway_widths(stage)[p]
        kernels = block_temporal_kernels(
            STAGE_TEMPORAL_KERNELS[self.arch][stage_index][p], num_blocks,
            self.num_block_temp_kernel[stage_index][p])
        nonlocal_after = ()
        if self.nonlocal_location:
          nonlocal_after = tuple(self.nonlocal_location[stage_index][p])
        x[p] = ResStage(num_blocks, inner, out, kernels,
                        self.spatial_strides[stage_index], nonlocal_after,
                        self.nonlocal_instantiation, tuple(self.nonlocal_pool),
                        self.spatial_dilations[stage_index],
                        name=f"{name}_res{stage}", **common)(x[p], train)
      if stage == 2 and TEMPORAL_POOL_AFTER_RES2[self.arch] > 1:
        t = TEMPORAL_POOL_AFTER_RES2[self.arch]
        x = [nn.max_pool(f, (t, 1, 1), strides=(t, 1, 1)) for f in x]
      self.sow("intermediates", f"res{stage}", tuple(x))
      if two_pathways and stage < 5:
        x[0] = self.fuse(stage, x[0], x[1], bn, train)

    if self.detection:
      return self.detection_head(x, pathways, boxes, box_mask, train)
    per_position = head_lib.Head(self.num_classes, self.head_pool_windows(),
                                 self.dropout_rate, name="head")(x, train)
    positions = per_position.shape[1] * per_position.shape[2] * \
        per_position.shape[3]
    if probabilities or (not train and positions > 1):
      return head_lib.probabilities_from_positions(per_position)
    return head_lib.logits_from_positions(per_position)
