"""Charades (multi-label): prepare, the release's sampling and labels, the
loss, max over views, mAP, the presets, and a tiny run end to end."""

import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import jax
import jax.numpy as jnp
from slowfast_jax import config_lib
from slowfast_jax import sharding
from slowfast_jax import train_lib
from slowfast_jax import validate
from slowfast_jax.convert import target
from slowfast_jax.data import builder
from slowfast_jax.data import charades_prepare
from slowfast_jax.data import model_input
from slowfast_jax.data import multi_label
from slowfast_jax.data import pipeline
from slowfast_jax.data import sampling
from slowfast_jax.data import transforms
from slowfast_jax.evaluation import evaluator
from slowfast_jax.evaluation import multilabel_metrics

import charades_configs
import charades_fixtures
from model_configs import assert_config_fields
from model_configs import CHARADES_PRESETS
from model_configs import load_preset
import processes
from test_multilabel_metrics import release_map

NAME = charades_configs.NAME


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  """The fixture set prepared at 24 fps, short side 40: `(data_dir,
  summary)`."""
  root = tmp_path_factory.mktemp("charades")
  videos = charades_fixtures.write_charades_set(root)
  data_dir = str(tmp_path_factory.mktemp("charades_tfds"))
  summary = charades_prepare.prepare_charades(
      annotation_dir=str(root), video_dir=str(videos), data_dir=data_dir,
      name=NAME, short_side=40, workers=0, videos_per_shard=4,
      progress=False)
  return data_dir, summary


def _config(data_dir):
  config = charades_configs.get_config()
  config.data.data_dir = data_dir
  return config


def _multi_hot(classes, num_classes=len(charades_fixtures.CLASSES)):
  row = np.zeros(num_classes, np.int64)
  row[list(classes)] = 1
  return row


# ------------------------------------------------------------------ prepare ---


def test_prepare_gives_multi_hot_labels_and_reports_bad_videos(prepared):
  data_dir, summary = prepared
  assert summary.written == {"train": 8, "val": 3}
  assert sorted(row[2] for row in summary.skipped) == sorted(
      charades_fixtures.BAD)
  assert summary.exit_code == 2
  with open(summary.report_path) as f:
    rows = {line.split("\t")[2]: line.split("\t")
            for line in f.read().splitlines()[1:]}
  assert "file not found" in rows["MISS1.mp4"][3]
  assert rows["BAD01.mp4"][1].endswith("Charades_v1_train.csv:10")

  info = pipeline.dataset_info(_config(data_dir))
  assert info.class_names == charades_fixtures.CLASSES
  ds_builder = tfds.builder_from_directory(builder.version_dir(data_dir, NAME))
  seen = {}
  for split in ("train", "val"):
    for example in ds_builder.as_dataset(split=split).as_numpy_iterator():
      example["video"] = builder.read_video(ds_builder, example)
      video_id = example["video_id"].decode().removesuffix(".mp4")
      seen[video_id] = example
      assert sorted(example["labels"]) == charades_fixtures.VIDEO_LABELS[
          video_id], video_id
      assert len(example["video"]) == (12 if video_id == "SHRT1" else 48)
      assert min(example["video"].shape[1:3]) == 40
  assert sorted(seen) == sorted(charades_fixtures.VIDEO_LABELS)
  # Overlapping actions keep their spans; one after the video's end (c002
  # at 5-6 s) is left out. Frame k shows an action when start < k/24 < end.
  first = seen["AAA01"]
  np.testing.assert_array_equal(first["action_class"], [0, 1])
  np.testing.assert_array_equal(first["action_first_frame"], [1, 13])
  np.testing.assert_array_equal(first["action_last_frame"], [23, 47])
  np.testing.assert_allclose(first["action_end"], [1.0, 2.0])
  assert len(seen["AAA04"]["action_class"]) == 0  # No actions.


def test_bad_annotations_stop_before_anything_is_written(tmp_path):
  class_ids = {"c000": 0}
  with pytest.raises(charades_prepare.prepare.PrepareError,
                     match="x.csv:3: unknown class 'c009'"):
    charades_prepare.parse_actions("c000 1 2;c009 0 1", class_ids, "x.csv:3")
  with pytest.raises(charades_prepare.prepare.PrepareError,
                     match="is not `cNNN START END`"):
    charades_prepare.parse_actions("c000 1.0", class_ids, "x.csv:3")
  (tmp_path / "Charades_v1_classes.txt").write_text("c000 A\nc001 A\n")
  with pytest.raises(charades_prepare.prepare.PrepareError,
                     match="duplicate class names"):
    charades_prepare.prepare_charades(
        annotation_dir=str(tmp_path), video_dir=str(tmp_path),
        data_dir=str(tmp_path / "out"))
  assert not (tmp_path / "out").exists()


# ------------------------------------------------------ sampling and labels ---


def _release_seq(video_length, num_frames, rate, num_clips, clip):
  """The release's `Charades.get_seq_frames` for test clip `clip`."""
  clip_length = (num_frames - 1) * rate + 1
  gap = float(max(video_length - clip_length, 0)) / (num_clips - 1)
  start = int(round(gap * clip))
  return [max(min(start + i * rate, video_length - 1), 0)
          for i in range(num_frames)]


@pytest.mark.parametrize("num_clips", [3, 10])
def test_test_clips_are_the_releases(num_clips):
  """Includes `round` landing on .5 (half to even) and short videos."""
  num_frames, rate = 8, 2
  clip_length = sampling.charades_clip_length(num_frames, rate)
  for video_length in range(1, 80):
    starts = sampling.charades_test_starts_np(video_length, clip_length,
                                              num_clips)
    starts_tf = sampling.charades_test_starts_tf(video_length, clip_length,
                                                 num_clips).numpy()
    np.testing.assert_array_equal(starts_tf, starts)
    for clip in range(num_clips):
      got = sampling.charades_clip_indices_np(starts[clip], num_frames, rate,
                                              video_length)
      want = _release_seq(video_length, num_frames, rate, num_clips, clip)
      np.testing.assert_array_equal(got, want)
      got_tf = sampling.charades_clip_indices_tf(
          starts_tf[clip], num_frames, rate, video_length).numpy()
      np.testing.assert_array_equal(got_tf, want)


@pytest.mark.parametrize("video_length", [20, 15, 9])
def test_training_starts_are_uniform_integers_in_the_releases_range(
    video_length):
  clip_length = sampling.charades_clip_length(8, 2)  # 15
  slack = video_length - clip_length
  # The release: randint(slack, 0) for a short video, else randint(0, slack).
  want = set(range(min(slack, 0), max(slack, 0) + 1))
  starts = {int(sampling.charades_train_start_tf(
      video_length, clip_length, tf.constant([seed, 7], tf.int64)))
            for seed in range(300)}
  assert starts == want


def test_clip_labels_are_the_actions_over_the_clip_span():
  """Brute force: the union of the frame labels from the clip's first
  index to its last (release: `aggregate_labels` over that range)."""
  rng = np.random.default_rng(0)
  for _ in range(50):
    num_actions = rng.integers(0, 5)
    first = rng.integers(0, 40, num_actions)
    last = first + rng.integers(0, 20, num_actions)
    classes = rng.integers(0, 6, num_actions)
    indices = np.sort(rng.integers(0, 60, 8))
    frame_labels = [{c for c, a, b in zip(classes, first, last) if a <= k <= b}
                    for k in range(60)]
    want = _multi_hot(set().union(*frame_labels[indices[0]:indices[-1] + 1]))
    example = {"action_class": tf.constant(classes, tf.int64),
               "action_first_frame": tf.constant(first, tf.int64),
               "action_last_frame": tf.constant(last, tf.int64)}
    got = multi_label.clip_labels(example, tf.constant(indices), 6)
    np.testing.assert_array_equal(got.numpy(), want)
  with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes=6"):
    multi_label.multi_hot(tf.constant([6], tf.int64), 6)


def test_inverse_uniform_scale_jitter():
  """DATA.INV_UNIFORM_SAMPLE: int(round(1 / U(1 / max, 1 / min)))."""
  sizes = []
  for seed in range(200):
    seed = tf.constant([seed, 3], tf.int64)
    u = float(tf.random.stateless_uniform([], seed=seed, dtype=tf.float64))
    size = int(transforms.random_jitter_size(256, 340, seed,
                                             inverse_uniform=True))
    assert size == round(1.0 / (1 / 340 + (1 / 256 - 1 / 340) * u))
    sizes.append(size)
  assert 256 <= min(sizes) and max(sizes) <= 340
  # The inverse draw favours small sizes: its median is 292, not 298.
  assert np.median(sizes) < 296


def test_bgr_input_reverses_the_normalized_channels():
  config = load_preset("charades_slowfast_16x8_r50")
  video = np.random.default_rng(0).integers(0, 256, (1, 8, 4, 4, 3),
                                            np.uint8)
  config.data.mean = [0.4, 0.5, 0.6]
  bgr = model_input.prepare_pathways(video, config.model, config.data)
  config.data.bgr = False
  rgb = model_input.prepare_pathways(video, config.model, config.data)
  np.testing.assert_allclose(bgr[1], rgb[1][..., ::-1])
  np.testing.assert_allclose(bgr[1][..., 0],
                             (video[..., 2] / 255 - 0.6) / 0.225, rtol=1e-6)


def test_pipeline_batches_carry_multi_hot_labels(prepared):
  data_dir, _ = prepared
  config = _config(data_dir)
  batch = next(pipeline.make_train_dataset(config).as_numpy_iterator())
  assert batch["video"].shape == (8, 8, 32, 32, 3)
  assert batch["label"].shape == (8, 6) and set(np.unique(batch["label"])) <= {
      0, 1}
  views = list(pipeline.make_eval_dataset(
      config, "val", num_clips=2, num_crops=3, batch_size=4,
      random_view=False).as_numpy_iterator())
  labels = np.concatenate([b["label"] for b in views])
  mask = np.concatenate([b["mask"] for b in views])
  index = np.concatenate([b["video_index"] for b in views])
  assert mask.sum() == 18 and not labels[~mask].any()
  ids = [e["video_id"].decode().removesuffix(".mp4") for e in tfds.builder(
      NAME, data_dir=data_dir).as_dataset(
          split="val", shuffle_files=False).as_numpy_iterator()]
  for row, video in zip(labels[mask], index[mask]):
    np.testing.assert_array_equal(
        row, _multi_hot(charades_fixtures.VIDEO_LABELS[ids[video]]))
  config.data.multi_label = False
  with pytest.raises(ValueError, match="is multi-label"):
    pipeline.dataset_info(config)


# ------------------------------------------------------ loss and evaluation ---


def test_bce_logit_loss_and_top1():
  """`bce_logit`: torch's BCEWithLogitsLoss, the mean over clips and classes;
  `top1`: clips with a label whose best class is one of them."""
  config = charades_configs.get_config()
  rng = np.random.default_rng(0)
  logits = rng.normal(0, 3, (5, 6)).astype(np.float32)
  labels = (rng.random((5, 6)) < 0.3).astype(np.int32)
  labels[0] = 0  # No label: not counted by top1.
  labels[1, np.argmax(logits[1])] = 1
  loss, metrics = train_lib.loss_and_metrics(
      jnp.asarray(logits), {"label": jnp.asarray(labels)}, config)
  x = logits.astype(np.float64)
  want = np.mean(np.maximum(x, 0) - x * labels + np.log1p(np.exp(-abs(x))))
  assert float(loss) == pytest.approx(want, rel=1e-6)
  hits = labels[np.arange(5), np.argmax(logits, 1)] == 1
  assert float(metrics["top1"]) == pytest.approx(hits[1:].mean())


def test_evaluator_takes_the_max_over_views_and_reports_map():
  """The release's Charades test: the element-wise max of the views'
  scores per video, then `get_map`; views arrive in any order, padded."""
  videos, views, classes = 7, 6, 5
  rng = np.random.default_rng(1)
  table = rng.random((videos, views, classes))
  labels = (rng.random((videos, classes)) < 0.4).astype(np.int32)
  labels[:, 3] = 0  # A class without positives: left out of the mean.
  order = rng.permutation(videos * views)
  batches = []
  for start in range(0, len(order), 4):
    video, view = np.divmod(order[start:start + 4], views)
    pad = 4 - len(video)
    batches.append({
        "video": np.zeros((4, 1, 1, 1, 3), np.uint8),
        "label": np.concatenate([labels[video], np.zeros((pad, classes),
                                                         np.int32)]),
        "video_index": np.concatenate([video, -np.ones(pad, int)]),
        "view_index": np.concatenate([view, -np.ones(pad, int)]),
        "mask": np.arange(4) < len(video)})

  def score(variables, batch):
    del variables
    out = {k: v for k, v in batch.items() if k != "video"}
    video, view = (np.asarray(batch[k]) for k in ("video_index",
                                                  "view_index"))
    out["scores"] = table[video, view]  # Padding rows read any row.
    return out

  result = evaluator.evaluate(
      score, None, batches, num_classes=classes, num_clips=2, num_crops=3,
      ensemble="max", num_videos=videos, mesh=sharding.make_mesh(),
      progress=False, multi_label=True)
  np.testing.assert_array_equal(result.scores, table.max(axis=1))
  np.testing.assert_array_equal(result.labels, labels)
  metrics = result.metrics
  assert metrics["mean_ap"] == pytest.approx(
      release_map(table.max(axis=1), labels), abs=1e-12)
  assert metrics["per_class_ap"][3] is None
  assert metrics["num_classes_with_positives"] == 4
  assert metrics["num_views"] == videos * views and "top1" not in metrics


# ------------------------------------------------------------------ presets ---


# The release's configs/Charades/SLOWFAST_16x8_R50{,_multigrid}.yaml.
RELEASE_YAML = {
    ("model", "num_classes"): 157, ("model", "num_frames"): 64,
    ("model", "alpha"): 4, ("model", "beta_inv"): 8,
    ("model", "fusion_conv_channel_ratio"): 2, ("model", "fusion_kernel"): 7,
    ("model", "depth"): 50, ("model", "dropout_rate"): 0.5,
    ("model", "train_crop_size"): 224,
    # BN: sync over 4 devices of 2 clips (batch 16 on 8 GPUs).
    ("model", "bn_group_size"): 8,
    ("data", "sampling_rate"): 2, ("data", "train_jitter_scales"): [256, 340],
    ("data", "train_crop_size"): 224, ("data", "test_crop_size"): 256,
    ("data", "multi_label"): True, ("data", "inv_uniform_sample"): True,
    ("data", "bgr"): True, ("data", "clip_sampling"): "charades",
    # datasets/charades.py, test mode: spatial index `index %
    # NUM_SPATIAL_CROPS` (0, the left or top crop, with one crop) of the
    # frames resized to TEST_CROP_SIZE.
    ("data", "single_test_crop"): "first",
    ("data", "mean"): [0.45] * 3, ("data", "std"): [0.225] * 3,
    ("optim", "base_lr"): 0.0375, ("optim", "base_batch_size"): 16,
    ("optim", "lr_policy"): "steps_with_relative_lrs",
    ("optim", "steps"): (0, 41, 49),
    ("optim", "lrs"): (1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001),
    ("optim", "momentum"): 0.9, ("optim", "weight_decay"): 1e-4,
    ("optim", "warmup_epochs"): 4.0, ("optim", "warmup_start_lr"): 0.0001,
    ("eval", "num_clips"): 10, ("eval", "num_crops"): 3,
    ("eval", "batch_size"): 16, ("eval", "ensemble"): "max",
    ("precise_bn", "enabled"): True, ("precise_bn", "num_batches"): 200,
    (None, "global_batch_size"): 16, (None, "num_epochs"): 57,
    (None, "eval_every_epochs"): 6, (None, "init_head"): "reinit",
}


@pytest.mark.parametrize("preset", CHARADES_PRESETS)
def test_presets_carry_the_release_yaml(preset):
  assert CHARADES_PRESETS == ["charades_slowfast_16x8_r50",
                              "charades_slowfast_16x8_r50_multigrid"]
  config = load_preset(preset)
  assert_config_fields(config, RELEASE_YAML)
  multigrid = preset.endswith("_multigrid")
  assert config.multigrid.short_cycle == config.multigrid.long_cycle == \
      multigrid
  assert config.multigrid.epoch_factor == 1.5
  assert config.multigrid.bn_base_size == 8
  # The Kinetics SlowFast 8×8 R50's count with a 157-class classifier.
  params = target.abstract_variables(config.model)["params"]
  count = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params))
  assert count == 34_566_488 + (2304 * 157 + 157) - (2304 * 400 + 400)
  validate.validate_model(config.model)
  validate.validate_schedule(config)
  validate.validate_multigrid(config, device_count=8)


# --------------------------------------------------------------- end to end ---


def _logged(workdir, tag):
  """Every value of scalar `tag` in the run's TensorBoard events, by step."""
  values = {}
  for path in sorted(workdir.glob("events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = float(tf.make_ndarray(value.tensor))
  return [values[s] for s in sorted(values)]


def test_tiny_run_lowers_the_loss_and_eval_writes_map(prepared, tmp_path):
  """8 training videos a step for 12 steps; then `eval.py` on the 3 test
  videos, 2 × 3 views each. A Slow-only network (the same data, loss and
  test as SlowFast's) keeps the compilation short."""
  data_dir, _ = prepared
  config = _config(data_dir)
  config.model.arch = "slow"
  config.model.num_frames = 4
  config.data.sampling_rate = 4
  summary = train_lib.train_and_evaluate(config, str(tmp_path))
  losses = _logged(tmp_path, "loss")
  assert len(losses) == 12
  assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.05, losses
  assert 0.0 <= summary["val_map"] <= 1.0 and summary["val_views"] == 3

  out = tmp_path / "eval"
  command = [sys.executable, str(processes.ROOT / "eval.py"),
             "--checkpoint", str(tmp_path), "--output", str(out)]
  run = subprocess.run(command, capture_output=True, text=True, timeout=300,
                       check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  results = json.loads((out / evaluator.RESULTS_FILE).read_text())
  scores = np.load(out / evaluator.SCORES_FILE)
  assert results["ensemble"] == "max" and results["num_views"] == 18
  assert scores["label"].shape == scores["scores"].shape == (3, 6)
  for video_id, row in zip(scores["video_id"], scores["label"]):
    np.testing.assert_array_equal(row, _multi_hot(
        charades_fixtures.VIDEO_LABELS[video_id.removesuffix(".mp4")]))
  assert results["mean_ap"] == pytest.approx(
      multilabel_metrics.mean_average_precision(scores["scores"],
                                                scores["label"]), abs=1e-6)
  assert list(results["per_class_ap"]) == list(charades_fixtures.CLASSES)
  assert results["per_class_ap"]["Tidying some clothes"] is None  # No test
  assert 0.0 < results["mean_ap"] <= 1.0                         # positive.
