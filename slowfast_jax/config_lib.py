"""Shared config building blocks; each `configs/NAME.py` calls these.

Every default is the PyTorch release's value for its Kinetics-400 configs
(configs/Kinetics/*.yaml), so a preset differs from `kinetics_config` only in
what the release's yaml for that model changes.
"""

from typing import Sequence

import ml_collections

# Stage depths (res2, res3, res4, res5) by ResNet depth, the release's
# _MODEL_STAGE_DEPTH. Every depth uses bottleneck blocks (the release's
# default RESNET.TRANS_FUNC); 18 is for quick experiments and the tests.
STAGE_DEPTHS = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
# `data.clip_sampling` values: the release's loaders (Kinetics, Charades,
# SSv2) whose rule picks a clip's frames (slowfast_jax/data/sampling.py).
CLIP_SAMPLINGS = ("kinetics", "charades", "ssv2")


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
  # RESNET.SPATIAL_STRIDES / SPATIAL_DILATIONS of res2..res5.
  c.spatial_strides = [1, 2, 2, 2]
  c.spatial_dilations = [1, 1, 1, 1]
  # DETECTION.*: a per-box RoIAlign head instead of the pooled one (AVA).
  c.detection = False
  c.detection_aligned = True  # RoIAlign's -0.5-pixel alignment.
  c.roi_resolution = 7  # DETECTION.ROI_XFORM_RESOLUTION.
  c.roi_spatial_scale_factor = 16  # DETECTION.SPATIAL_SCALE_FACTOR.
  c.bn_momentum = 0.9  # Flax convention: PyTorch momentum 0.1.
  c.bn_epsilon = 1e-5
  # Clips per BatchNorm statistics group in training (release: 8 per GPU);
  # 0 = statistics over the whole global batch (sync BN).
  c.bn_group_size = 8
  # How convolutions, BatchNorm's training gradient and the stems' max-pool
  # are computed (slowfast_jax.ops): "native" (XLA's own ops; TPU, GPU),
  # "fast" (formulations for XLA:CPU) or "auto" (fast on CPU, else native).
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
  c.target_fps = 30.0  # A float: overrides such as 29.97 fit its type.
  c.train_jitter_scales = [256, 320]
  c.train_crop_size = 224
  c.test_crop_size = 256
  c.mean = [0.45, 0.45, 0.45]
  c.std = [0.225, 0.225, 0.225]
  c.random_flip = True
  # DATA.INV_UNIFORM_SAMPLE: draw the training short side as 1 / U(1 / max,
  # 1 / min) instead of U(min, max).
  c.inv_uniform_sample = False
  c.bgr = False  # DATA.REVERSE_INPUT_CHANNEL: the model sees BGR.
  # DATA.MULTI_LABEL (release: with MODEL.LOSS_FUNC bce_logit and
  # MODEL.HEAD_ACT sigmoid, as its Charades configs set them together):
  # multi-hot labels, sigmoid BCE loss, sigmoid test scores, mAP
  # (docs/charades.md). The prepared dataset must hold multi-label examples.
  c.multi_label = False
  # Which frames a clip takes (slowfast_jax.data.sampling): "kinetics" (the
  # release's Kinetics loader: linspace over a window sized by target_fps),
  # "charades" (its Charades loader: an integer start, every
  # sampling_rate-th stored frame) or "ssv2" (its SSv2 loader: one frame per
  # segment of the whole video; validation takes the segments' middles).
  c.clip_sampling = "kinetics"
  # With eval.num_crops = 1: "center" (the release's Kinetics loader: the
  # centre crop after resizing the short side to train_jitter_scales[0]) or
  # "first" (its SSv2 and Charades loaders: spatial index 0, the left or top
  # crop, after resizing to test_crop_size). Both give the same 3 crops.
  c.single_test_crop = "center"
  # With random_flip: a flipped training (or random validation) clip takes
  # the class its mirror image shows, "left" and "right" swapped in the
  # class name (slowfast_jax/data/flip_labels.py; docs/ssv2.md). Not in the
  # release. Single-label clip classification only (not Charades or AVA).
  c.label_aware_flip = False
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
  # Kinetics configs): recomputed over min(`num_batches`, steps per epoch)
  # training batches before each validation, the last one included
  # (slowfast_jax/training/precise_bn.py).
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
  config.init_from = ""
  config.init_head = "keep"  # "keep" or "reinit" (new class count).
  # Fine-tuning (docs/finetuning.md): what keeps the values `init_from` loaded.
  config.finetune = ml_collections.ConfigDict()
  # The release's MODEL.FROZEN_BN: in training every BatchNorm normalizes
  # with its stored statistics and does not update them (the release puts its
  # BatchNorm3d layers in eval mode); their scale and bias still train unless
  # their stage is frozen. Precise BatchNorm must then be off.
  config.finetune.frozen_bn = False
  # Stages 1..N get no updates (slowfast_jax/training/freeze.py): 1 = the
  # stems and the first fusion, N = res2..resN too and the fusions after
  # them, 5 = the whole backbone; 0 = none.
  config.finetune.frozen_stages = 0
  config.profile = False
  return config


# ----------------------------------------------------------------------- AVA ---
# The release's AVA configs (configs/AVA/c2/*.yaml, configs/AVA/*_SHORT.yaml)
# and the defaults they leave unset (slowfast/config/defaults.py).


def ava_model_config(aligned: bool, nonlocal_pool: Sequence[int] = (1, 2, 2),
                     **kwargs) -> ml_collections.ConfigDict:
  """The `model` section of a detection preset (release DETECTION.ENABLE).

  Args:
    aligned: RoIAlign's −0.5-pixel alignment (DETECTION.ALIGNED): False in
      the `c2/` configs, True in the `_SHORT` ones.
    nonlocal_pool: NONLOCAL.POOL, the same for every stage and pathway.
    **kwargs: `model_config` arguments.
  """
  c = model_config(**kwargs)
  c.num_classes = 80
  c.nonlocal_pool = list(nonlocal_pool)
  # RESNET.SPATIAL_STRIDES / SPATIAL_DILATIONS for res2..res5: res5 keeps the
  # 1/16 resolution of res4, with its 3×3 convs dilated by 2.
  c.spatial_strides = [1, 2, 2, 1]
  c.spatial_dilations = [1, 1, 1, 2]
  c.detection = True
  c.detection_aligned = aligned
  return c


# Person boxes of the release's AVA configs (AVA.*_PREDICT_BOX_LISTS).
AVA_VAL_BOXES = ("person_box_67091280_iou{iou}/"
                 "ava_detection_val_boxes_and_labels.csv")
AVA_SHORT_TRAIN_BOXES = (
    "ava_train_v2.2.csv",
    "person_box_67091280_iou90/"
    "ava_detection_train_boxes_and_labels_include_negative_v2.2.csv")


def ava_data_config(sampling_rate: int, test_crop_size: int,
                    detection_score_thresh: float,
                    train_predict_box_lists: Sequence[str],
                    test_predict_box_lists: Sequence[str]
                    ) -> ml_collections.ConfigDict:
  """The `data` section for AVA v2.2 (release DATA.* and AVA.*)."""
  c = data_config()
  c.name = "ava"
  c.sampling_rate = sampling_rate
  c.test_crop_size = test_crop_size  # Short side of the whole test frame.
  c.detection_score_thresh = detection_score_thresh
  c.train_gt_box_lists = ["ava_train_v2.2.csv"]
  c.train_predict_box_lists = list(train_predict_box_lists)
  c.test_predict_box_lists = list(test_predict_box_lists)
  c.label_map_file = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
  c.exclusion_file = "ava_val_excluded_timestamps_v2.2.csv"
  c.groundtruth_file = "ava_val_v2.2.csv"
  c.train_use_color_augmentation = False
  c.train_pca_jitter_only = True
  c.test_force_flip = False
  c.full_test_on_val = False
  # Keyframes and frames (slowfast_jax.data.ava_prepare, ava_pipeline).
  c.keyframe_seconds = (902, 1798)  # Annotated seconds (AVA_VALID_FRAMES).
  c.frames_start_second = 900  # Extracted frame 1 shows this second.
  c.max_boxes = 0  # Box slots per clip; 0: the prepared split's maximum.
  return c


def ava_config(model: ml_collections.ConfigDict, *, sampling_rate: int,
               global_batch_size: int, short_schedule: bool,
               test_crop_size: int = 256, detection_score_thresh: float = 0.8,
               test_box_iou: int = 90) -> ml_collections.ConfigDict:
  """A full AVA config: the release's detection recipe.

  Args:
    model: `ava_model_config(...)`.
    sampling_rate: DATA.SAMPLING_RATE.
    global_batch_size: TRAIN.BATCH_SIZE (16 for the SlowFast `c2/` configs,
      64 otherwise); the learning rate is given for this batch.
    short_schedule: the `_SHORT` configs' recipe and training boxes: 20
      epochs, 5 warmup epochs from 1.25e-4, then the rate ×1, ×0.1, ×0.01,
      ×0.001 from epochs 0, 10, 15, 20 (`steps_with_relative_lrs`), trained
      on the ground truth and predicted boxes. The `c2/` configs set no solver
      values but SGD and weight decay 1e-7: the release's defaults, a cosine
      over 300 epochs without warmup, apply.
    test_crop_size: DATA.TEST_CROP_SIZE.
    detection_score_thresh: AVA.DETECTION_SCORE_THRESH.
    test_box_iou: the `person_box_67091280_iou{75,90}` list of test boxes.
  """
  data = ava_data_config(
      sampling_rate, test_crop_size, detection_score_thresh,
      AVA_SHORT_TRAIN_BOXES if short_schedule else (),
      [AVA_VAL_BOXES.format(iou=test_box_iou)])
  config = kinetics_config(model, sampling_rate=sampling_rate)
  config.data = data
  config.data.train_crop_size = model.get_ref("train_crop_size")
  config.global_batch_size = global_batch_size
  config.optim.base_batch_size = global_batch_size
  config.optim.base_lr = 0.1
  config.optim.weight_decay = 1e-7
  config.optim.lr_policy = "cosine"
  config.optim.steps = ()  # Tuples: overridable from the command line.
  config.optim.lrs = ()
  config.num_epochs = 300
  config.optim.warmup_epochs = 0.0
  config.optim.warmup_start_lr = 0.01
  config.eval_every_epochs = 1
  if short_schedule:
    config.optim.lr_policy = "steps_with_relative_lrs"
    config.optim.steps = (0, 10, 15, 20)
    config.optim.lrs = (1.0, 0.1, 0.01, 0.001)
    config.num_epochs = 20
    config.optim.warmup_epochs = 5.0
    config.optim.warmup_start_lr = 0.000125
    config.eval_every_epochs = 5
  # One view per keyframe: the whole frame at the test scale.
  config.eval.num_clips = 1
  config.eval.num_crops = 1
  config.eval.batch_size = 8
  # Training starts from a Kinetics checkpoint with a new 80-class head.
  config.init_head = "reinit"
  config.precise_bn.enabled = False  # BN.USE_PRECISE_STATS of the AVA configs.
  return config


# ------------------------------------------------------------------ Charades ---
# The release's Charades configs (configs/Charades/SLOWFAST_16x8_R50.yaml and
# SLOWFAST_16x8_R50_multigrid.yaml) and the defaults they leave unset.

CHARADES_NUM_CLASSES = 157


def multigrid_config(*, short_cycle: bool,
                     long_cycle: bool) -> ml_collections.ConfigDict:
  """The `multigrid` section: the release's MULTIGRID.* values.

  Training follows them when either cycle is on
  (`slowfast_jax.training.multigrid`, docs/training.md#multigrid).
  """
  c = ml_collections.ConfigDict()
  c.short_cycle = short_cycle  # MULTIGRID.SHORT_CYCLE
  c.long_cycle = long_cycle  # MULTIGRID.LONG_CYCLE
  c.epoch_factor = 1.5
  c.short_cycle_factors = (0.5, 0.5**0.5)
  c.long_cycle_factors = ((0.25, 0.5**0.5), (0.5, 0.5**0.5), (0.5, 1.0),
                          (1.0, 1.0))  # (temporal, spatial) factors.
  c.bn_base_size = 8
  c.eval_freq = 3
  c.gamma = 0.1  # SOLVER.GAMMA: the long cycle's rate per LR stage.
  return c


def charades_config(model: ml_collections.ConfigDict, *,
                    multigrid: bool = False) -> ml_collections.ConfigDict:
  """A full Charades config: the release's multi-label recipe.

  157 classes, multi-hot labels, sigmoid BCE with logits, the release's
  Charades clip sampling (`clip_sampling = "charades"`) on frames stored at
  24 fps, inverse-uniform scale jitter in [256, 340], BGR input, test by the
  maximum over 10 × 3 views of the sigmoid scores (one crop, with
  `eval.num_crops = 1`: the first, left or top, after resizing to
  `test_crop_size`), mAP. Batch 16 with
  BatchNorm statistics over 8 clips (2 per GPU synced over
  BN.NUM_SYNC_DEVICES 4), precise BatchNorm, 57 epochs: 4 warmup epochs
  from 1e-4, then 0.0375 × 1, 0.1, 0.01 from epochs 0, 41, 49. Training
  starts from a Kinetics checkpoint (`init_from`) with a new classifier.

  Args:
    model: `model_config(...)` of the SlowFast 16×8 R50 (64 Fast frames).
    multigrid: the `_multigrid` yaml's MULTIGRID.SHORT_CYCLE and LONG_CYCLE
      (the multigrid schedule, `slowfast_jax.training.multigrid`).
  """
  model.num_classes = CHARADES_NUM_CLASSES
  model.bn_group_size = 8
  config = kinetics_config(model, sampling_rate=2)
  data = config.data
  data.name = "charades"
  data.target_fps = 24.0  # The release's frames (Charades_v1_rgb) are 24 fps.
  data.train_jitter_scales = [256, 340]
  data.test_crop_size = 256
  data.inv_uniform_sample = True
  data.bgr = True
  data.multi_label = True
  data.clip_sampling = "charades"
  # The release's Charades loader: a single test crop is spatial index 0.
  data.single_test_crop = "first"
  data.test_split = "val"  # The release's "val" list: Charades' test set.
  config.global_batch_size = 16
  config.optim.base_batch_size = 16
  config.optim.base_lr = 0.0375
  config.optim.lr_policy = "steps_with_relative_lrs"
  config.optim.steps = (0, 41, 49)
  # SOLVER.LRS as the yaml gives it; only the first len(steps) are used.
  config.optim.lrs = (1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001)
  config.optim.weight_decay = 1e-4
  config.optim.warmup_epochs = 4.0
  config.optim.warmup_start_lr = 0.0001
  config.num_epochs = 57
  config.eval_every_epochs = 6  # TRAIN.EVAL_PERIOD (= CHECKPOINT_PERIOD).
  config.eval.num_clips = 10
  config.eval.num_crops = 3
  config.eval.batch_size = 16
  config.eval.ensemble = "max"  # DATA.ENSEMBLE_METHOD
  config.init_head = "reinit"  # TRAIN.CHECKPOINT_FILE_PATH: Kinetics weights.
  config.multigrid = multigrid_config(short_cycle=multigrid,
                                      long_cycle=multigrid)
  return config


# ---------------------------------------------------------------------- SSv2 ---
# The release's SSv2 configs (configs/SSv2/SLOWFAST_16x8_R50.yaml and
# SLOWFAST_16x8_R50_multigrid.yaml) and the defaults they leave unset.

SSV2_NUM_CLASSES = 174


def ssv2_config(model: ml_collections.ConfigDict, *,
                multigrid: bool = False) -> ml_collections.ConfigDict:
  """A full Something-Something v2 config: the release's recipe.

  174 classes, the release's SSv2 clip sampling (`clip_sampling = "ssv2"`:
  one frame per segment of the whole video) on frames stored at 30 fps, no
  horizontal flip, inverse-uniform scale jitter in [256, 320], BGR input,
  one test view: the first (left or top) crop of 256 px (224 px in the
  multigrid yaml) after resizing the short side to that size. Batch 16 with
  BatchNorm statistics over 8 clips, precise BatchNorm, 22 epochs: 0.19
  warmup epochs from 1e-4, then 0.03 × 1, 0.1, 0.01 from epochs 0, 14, 18,
  weight decay 1e-6. Training starts from a Kinetics checkpoint
  (`init_from`) with a new classifier.

  Args:
    model: `model_config(...)` of the SlowFast 16×8 R50 (64 Fast frames).
    multigrid: the `_multigrid` yaml: MULTIGRID.SHORT_CYCLE and LONG_CYCLE
      on (`training.multigrid`) and TEST_CROP_SIZE 224.
  """
  model.num_classes = SSV2_NUM_CLASSES
  model.bn_group_size = 8  # 2 clips per GPU, synced over 4 (sync_batchnorm).
  config = kinetics_config(model, sampling_rate=2)
  config.data.update(dict(
      name="ssv2", target_fps=30.0, train_jitter_scales=[256, 320],
      test_crop_size=224 if multigrid else 256, inv_uniform_sample=True,
      random_flip=False, bgr=True, clip_sampling="ssv2",
      single_test_crop="first", test_split="val"))
  config.global_batch_size = 16
  config.optim.update(dict(
      base_batch_size=16, base_lr=0.03, lr_policy="steps_with_relative_lrs",
      steps=(0, 14, 18), lrs=(1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001),
      weight_decay=1e-6, warmup_epochs=0.19, warmup_start_lr=0.0001))
  config.num_epochs = 22
  config.eval_every_epochs = 2  # TRAIN.EVAL_PERIOD (= CHECKPOINT_PERIOD).
  config.eval.update(dict(num_clips=1, num_crops=1, batch_size=16,
                          ensemble="sum"))
  config.init_head = "reinit"  # TRAIN.CHECKPOINT_FILE_PATH: Kinetics weights.
  config.multigrid = multigrid_config(short_cycle=multigrid,
                                      long_cycle=multigrid)
  return config


def uses_precise_bn(config: ml_collections.ConfigDict) -> bool:
  """Whether training recomputes BatchNorm statistics before validations.

  Configs stored before `precise_bn` existed have no such section: off.
  """
  precise = config.get("precise_bn")
  return precise is not None and bool(precise.enabled)
