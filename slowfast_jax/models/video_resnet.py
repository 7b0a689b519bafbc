"""The ResNet video family of the release: SlowFast, Slow, C2D and I3D.

One module covers all four: SlowFast has two pathways (Slow first, Fast
second) joined by Fast→Slow fusions after the stem and res2..res4; the others
have a single pathway named `slow` (the release's pathway 0). `fast` (not in
the release; the paper's "Fast-only" ablation) is SlowFast's Fast pathway
alone: its frames, temporal kernels and 1/β widths, pathway named `fast`.
"""

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from slowfast_jax import ops
from slowfast_jax.config_lib import STAGE_DEPTHS
from slowfast_jax.models import detection_head as detection_lib
from slowfast_jax.models import fusion as fusion_lib
from slowfast_jax.models import head as head_lib
from slowfast_jax.models.blocks import ResStage
from slowfast_jax.models.norm import BatchNorm
from slowfast_jax.models.stem import Stem


# Temporal kernel per architecture: the stem's per pathway, then for each res
# stage a per-pathway list that is repeated over the blocks
# (the release's _TEMPORAL_KERNEL_BASIS).
STEM_TEMPORAL_KERNELS = {
    "slowfast": (1, 5), "slow": (1,), "fast": (5,), "c2d": (1,),
    "c2d_nopool": (1,), "i3d": (5,)}
STAGE_TEMPORAL_KERNELS = {
    "slowfast": (((1,), (3,)), ((1,), (3,)), ((3,), (3,)), ((3,), (3,))),
    "slow": (((1,),), ((1,),), ((3,),), ((3,),)),
    "fast": (((3,),), ((3,),), ((3,),), ((3,),)),
    "c2d": (((1,),), ((1,),), ((1,),), ((1,),)),
    "c2d_nopool": (((1,),), ((1,),), ((1,),), ((1,),)),
    "i3d": (((3,),), ((3, 1),), ((3, 1),), ((1, 3),)),
}
# C2D and I3D halve time with a 2×1×1 max-pool after res2; the model zoo's
# C2D (C2D_NOPOOL_8x8_R50) does not.
TEMPORAL_POOL_AFTER_RES2 = {"slowfast": 1, "slow": 1, "fast": 1, "c2d": 2,
                            "c2d_nopool": 1, "i3d": 2}
ARCHS = tuple(STEM_TEMPORAL_KERNELS)


def pathway_names(arch: str) -> tuple[str, ...]:
  if arch == "slowfast":
    return ("slow", "fast")
  return ("fast",) if arch == "fast" else ("slow",)


def block_temporal_kernels(basis: Sequence[int], num_blocks: int,
                           num_temporal_blocks: int) -> list[int]:
  """The basis repeated over the blocks, cut after `num_temporal_blocks`.

  E.g. basis (3, 1) over 6 blocks → [3, 1, 3, 1, 3, 1]; basis (3,) over 23
  blocks with 6 temporal ones (R101 "_50_50") → six 3s, then seventeen 1s.
  """
  kernels = (list(basis) * num_blocks)[:num_temporal_blocks]
  return kernels + [1] * (num_blocks - len(kernels))


OUTPUTS = ("logits", "per_position_logits", "features")


class VideoResNet(nn.Module):
  """SlowFast / Slow / C2D / I3D ResNet.

  Build it from a config's `model` section: `build_model(config.model)` or
  `VideoResNet(**config.model)`; the fields and their defaults (the release's
  values) are defined once, in `slowfast_jax.config_lib.model_config`.
  `arch` is one of `ARCHS`.

  Call with a list of pathway clips, each `(batch, time, height, width, 3)`
  float32 and normalized: `[slow, fast]` for SlowFast (Fast has α× the
  frames), `[clip]` otherwise. `output` picks what it returns, the same kind
  whatever the crop and `train`:
    - "logits": `(batch, classes)`, the classifier output averaged over the
      head's positions (one position at the training crop).
    - "per_position_logits": `(batch, t, h, w, classes)`, the classifier at
      every position of the pooled map (several at crops larger than
      `train_crop_size`). The release's test output is
      `slowfast_jax.evaluation.scorer.release_test_scores` of these.
    - "features": `{"slow": (batch, C_slow), "fast": (batch, C_fast),
      "concat": (batch, C)}` ("fast" for SlowFast only): the pooled pathway
      features the classifier reads (`head.projection`'s input, before
      dropout), averaged over positions. 2304 = 2048 + 256 for SlowFast R50.
  With `detection=True` (the release's DETECTION.ENABLE) the head is
  `DetectionHead`: the call takes `boxes` `(batch, max_boxes, 4)` (x1, y1, x2,
  y2 in input pixels) and `box_mask` `(batch, max_boxes)`, and "logits" are
  per box, `(batch, max_boxes, classes)` (see `detection_head`). Without
  boxes, each clip's whole frame is one box (what `init` uses).
  `frozen_bn=True` (with `train=True`) normalizes with the stored BatchNorm
  statistics and leaves them unchanged (the release's MODEL.FROZEN_BN, for
  fine-tuning); dropout still applies.
  Stage feature maps are sown into the `intermediates` collection (`stem`,
  `res2`..`res5`, a tuple per pathway): `model.apply(variables, pathways,
  mutable=["intermediates"])`.
  """
  arch: str
  depth: int
  num_classes: int
  num_frames: int
  alpha: int
  beta_inv: int
  fusion: str
  fusion_conv_channel_ratio: int
  fusion_kernel: int
  width_per_group: int
  num_block_temp_kernel: Sequence[Sequence[int]]
  nonlocal_location: Sequence[Sequence[Sequence[int]]]
  nonlocal_instantiation: str
  nonlocal_pool: Sequence[int]
  dropout_rate: float
  train_crop_size: int
  spatial_strides: Sequence[int]  # res2..res5.
  spatial_dilations: Sequence[int]  # res2..res5 (2 in res5 for detection).
  detection: bool
  detection_aligned: bool
  roi_resolution: int
  roi_spatial_scale_factor: int
  bn_momentum: float
  bn_epsilon: float
  bn_group_size: int
  conv_impl: str
  dtype: Any  # A dtype name ("float32", "bfloat16") or a jnp dtype.

  def pathway_widths(self, stage: int) -> list[tuple[int, int]]:
    """(inner, out) widths of res stage `stage` (2..5) for each pathway."""
    inner = self.width_per_group * 2**(stage - 2)
    slow, fast = (inner, 4 * inner), (inner // self.beta_inv,
                                      4 * inner // self.beta_inv)
    return [{"slow": slow, "fast": fast}[name]
            for name in pathway_names(self.arch)]

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
          conv_impl=self.conv_impl, dtype=jnp.dtype(self.dtype),
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
               output: str = "logits", boxes: jax.Array | None = None,
               box_mask: jax.Array | None = None, frozen_bn: bool = False):
    if output not in OUTPUTS:
      raise ValueError(f"output={output!r}; expected one of {OUTPUTS}.")
    if self.detection and output != "logits":
      raise ValueError(f"output={output!r}: a detection model returns "
                       "per-box logits only.")
    self.check_inputs(pathways)
    x = self.backbone(pathways, train, frozen_bn)
    if self.detection:
      return self.detection_head(x, pathways, boxes, box_mask, train)
    pooled, per_position = head_lib.Head(
        self.num_classes, self.head_pool_windows(), self.dropout_rate,
        ops.resolve(self.conv_impl), name="head")(x, train)
    if output == "per_position_logits":
      return per_position
    if output == "features":
      features = [head_lib.mean_over_positions(p) for p in pooled]
      named = dict(zip(pathway_names(self.arch), features))
      return {**named, "concat": jnp.concatenate(features, axis=-1)}
    return head_lib.mean_over_positions(per_position)

  def backbone(self, pathways: Sequence[jax.Array], train: bool,
               frozen_bn: bool) -> list[jax.Array]:
    """Stem and res2..res5 with the fusions: the res5 map of each pathway."""
    names = pathway_names(self.arch)
    two_pathways = len(names) == 2
    dtype = jnp.dtype(self.dtype)
    bn = functools.partial(BatchNorm, momentum=self.bn_momentum,
                           epsilon=self.bn_epsilon,
                           group_size=self.bn_group_size, dtype=dtype,
                           frozen=frozen_bn)
    common = dict(bn=bn, conv_impl=self.conv_impl, dtype=dtype)

    stem_widths = [{"slow": self.width_per_group,
                    "fast": self.width_per_group // self.beta_inv}[name]
                   for name in names]
    x = [
        Stem(width, kernel, name=f"{name}_stem", **common)(clip, train)
        for name, clip, width, kernel in zip(
            names, pathways, stem_widths, STEM_TEMPORAL_KERNELS[self.arch])
    ]
    self.sow("intermediates", "stem", tuple(x))
    if two_pathways:
      x[0] = self.fuse(1, x[0], x[1], bn, train)
    for stage in range(2, 6):
      x = self.res_stage(stage, x, common, train)
      if stage == 2 and TEMPORAL_POOL_AFTER_RES2[self.arch] > 1:
        t = TEMPORAL_POOL_AFTER_RES2[self.arch]
        x = [nn.max_pool(f, (t, 1, 1), strides=(t, 1, 1)) for f in x]
      self.sow("intermediates", f"res{stage}", tuple(x))
      if two_pathways and stage < 5:
        x[0] = self.fuse(stage, x[0], x[1], bn, train)
    return x

  def res_stage(self, stage: int, x: list[jax.Array], common: dict,
                train: bool) -> list[jax.Array]:
    """Res stage `stage` (2..5) of every pathway."""
    stage_index = stage - 2
    num_blocks = STAGE_DEPTHS[self.depth][stage_index]
    out = []
    for p, name in enumerate(pathway_names(self.arch)):
      inner, width = self.pathway_widths(stage)[p]
      kernels = block_temporal_kernels(
          STAGE_TEMPORAL_KERNELS[self.arch][stage_index][p], num_blocks,
          self.num_block_temp_kernel[stage_index][p])
      nonlocal_after = ()
      if self.nonlocal_location:
        nonlocal_after = tuple(self.nonlocal_location[stage_index][p])
      out.append(ResStage(num_blocks, inner, width, kernels,
                          self.spatial_strides[stage_index], nonlocal_after,
                          self.nonlocal_instantiation,
                          tuple(self.nonlocal_pool),
                          self.spatial_dilations[stage_index],
                          name=f"{name}_res{stage}", **common)(x[p], train))
    return out
