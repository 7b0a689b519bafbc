"""Shared config building blocks; each `configs/NAME.py` calls these.

Every default is the PyTorch release's value for its Kinetics-400 configs
(configs/Kinetics/*.yaml), so a preset differs from `kinetics_config` only in
what the release's yaml for that model changes.
"""

from typing import Sequence

import ml_collections

# Stage depths (res2, res3, res4, res5) by ResNet depth.
STAGE_DEPTHS = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}



def model_config(
    arch: str = "slowfast",
    depth: int = 50,
    num_frames: int = 32,
    alpha: int = 4,
    fusion_kernel: int = 7,
    num_block_temp_kernel: Sequence[Sequence[int]] | None = None,
    nonlocal_location: Sequence[Sequence[Sequence[int]]] | None = None,
    nonlocal_instantiation: str = "dot_product",
) -> ml_collections.ConfigDict:
  """The `model` section: architecture of one release preset.

  Args:
    arch: one of `slowfast_jax.models.ARCHS`.
    depth: ResNet depth, 50 or 101.
    num_frames: frames of the clip fed to the network: the Fast pathway's
      frames for `slowfast` (the Slow pathway gets `num_frames // alpha`), the
      single pathway's frames otherwise.
    alpha: frame-rate ratio Fast / Slow (`slowfast` only).
    fusion_kernel: temporal kernel of the time-strided convolution fusion.
    num_block_temp_kernel: per stage (res2..res5) and pathway, how many blocks
      use the stage's temporal kernel; the rest use 1. Default: all blocks.
    nonlocal_location: per stage and pathway, the block indices followed by a
      non-local block. Default: none.
    nonlocal_instantiation: "dot_product" or "softmax".
  """
  num_pathways = 2 if arch == "slowfast" else 1
  stage_depths = STAGE_DEPTHS[depth]
  if num_block_temp_kernel is None:
    num_block_temp_kernel = [[d] * num_pathways for d in stage_depths]
  if nonlocal_location is None:
    nonlocal_location = [[[] for _ in range(num_pathways)] for _ in range(4)]
  c = ml_collections.ConfigDict()
  c.arch = arch
  c.depth = depth
  c.num_classes = 400
  c.num_frames = num_frames
  c.alpha = alpha
  c.beta_inv = 8
  c.fusion = "time_strided_conv"
  c.fusion_conv_channel_ratio = 2
  c.fusion_kernel = fusion_kernel
  c.width_per_group = 64
  c.num_block_temp_kernel = [list(x) for x in num_block_temp_kernel]
  c.nonlocal_location = [[list(p) for p in s] for s in nonlocal_location]
  c.nonlocal_instantiation = nonlocal_instantiation
  c.nonlocal_pool = [1, 2, 2]
  c.dropout_rate = 0.5
  # The head's average-pool window is sized for this crop (release: the
  # training crop); larger test crops give a map of several positions.
  c.train_crop_size = 224
  c.bn_momentum = 0.9  # Flax convention: PyTorch momentum 0.1.
  c.bn_epsilon = 1e-5
  # Clips per BatchNorm statistics group in training (release: 8 per GPU);
  # 0 = statistics over the whole global batch (sync BN).
  c.bn_group_size = 8
  # How 3D convolutions are computed: "auto", "native" (lax.conv) or "fast"
  # (per-kernel-shape formulation, for CPU).
  c.conv_impl = "auto"
  c.dtype = "float32"  # Compute dtype; "bfloat16" keeps fp32 params.
  return c


def data_config() -> ml_collections.ConfigDict:
  """The `data` section: dataset and clip sampling (release defaults)."""
  c = ml_collections.ConfigDict()
  c.name = "kinetics400"
  c.data_dir = ml_collections.FieldReference(None, field_type=str)
  c.train_split = "train"
  c.val_split = "val"
  c.test_split = "val"
  c.sampling_rate = 2
  c.target_fps = 30
  c.train_jitter_scales = [256, 320]
  c.train_crop_size = 224
  c.test_crop_size = 256
  c.mean = [0.45, 0.45, 0.45]
  c.std = [0.225, 0.225, 0.225]
  c.random_flip = True
  # Single-view validation during training: "random" = the release's
  # train-style random window/scale/crop/flip (seeded), "center" = the
  # deterministic test-style view (first window, centre crop).
  c.val_view = "random"
  c.shuffle_buffer = 1024
  c.num_parallel_calls = -1  # tf.data.AUTOTUNE
  return c


def kinetics_config(model: ml_collections.ConfigDict,
                    sampling_rate: int = 2) -> ml_collections.ConfigDict:
  """A full config for training/eval on Kinetics-400 with the release recipe."""
  config = ml_collections.ConfigDict()
  config.model = model
  config.data = data_config()
  config.data.sampling_rate = sampling_rate
  config.data.train_crop_size = model.get_ref("train_crop_size")

  config.seed = 0
  config.global_batch_size = 64
  config.num_epochs = 196
  config.optim = ml_collections.ConfigDict()
  config.optim.base_lr = 0.1  # For `base_batch_size` clips; scaled linearly.
  config.optim.base_batch_size = 64
  config.optim.momentum = 0.9
  config.optim.nesterov = True
  config.optim.weight_decay = 1e-4
  config.optim.warmup_epochs = 34.0
  config.optim.warmup_start_lr = 0.01
  config.optim.end_lr = 0.0
  config.optim.label_smoothing = 0.0
  config.optim.grad_clip_norm = 0.0  # 0 = off.
  # Precise BatchNorm statistics (release BN.USE_PRECISE_STATS, on in its
  # Kinetics configs): recomputed over `num_batches` training batches before
  # each checkpoint / eval (slowfast_jax/training/precise_bn.py).
  config.precise_bn = ml_collections.ConfigDict()
  config.precise_bn.enabled = True
  config.precise_bn.num_batches = 200  # BN.NUM_BATCHES_PRECISE.

  config.eval = ml_collections.ConfigDict()
  config.eval.num_clips = 10
  config.eval.num_crops = 3
  config.eval.batch_size = 64
  config.eval.ensemble = "sum"  # "sum" of softmax scores over views, or "max".

  config.log_every_steps = 50
  config.eval_every_epochs = 10
  config.eval_every_steps = 0  # If > 0, overrides eval_every_epochs.
  config.checkpoint_every_steps = 1000  # Also saved at each eval and the end.
  config.keep_checkpoints = 3  # The last K, plus the best by val top-1.
  config.async_checkpoints = True
  config.inject_nan_at_step = 0  # Test aid: NaN loss at this step (0 = off).
  config.init_from = ""
  config.init_head = "keep"  # "keep" or "reinit" (new class count).
  config.profile = False
  return config
