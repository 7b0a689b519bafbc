"""Name maps, and full-size release state dicts covering the presets exactly."""

import numpy as np
import pytest

from slowfast_jax import convert
from slowfast_jax.convert import formats
from slowfast_jax.convert import names
from slowfast_jax.convert import target

import convert_references as refs
from model_configs import load_preset
from model_configs import tiny_model_config
import torch_stubs

# Examples measured on the release's own Caffe2 name conversion
# (release_facts.md §2.2).
CAFFE2_EXAMPLES = {
    "conv1_w": "s1.pathway0_stem.conv.weight",
    "res_conv1_bn_riv": "s1.pathway0_stem.bn.running_var",
    "t_conv1_w": "s1.pathway1_stem.conv.weight",
    "t_res_conv1_bn_s": "s1.pathway1_stem.bn.weight",
    "t_pool1_subsample_w": "s1_fuse.conv_f2s.weight",
    "t_pool1_subsample_bn_rm": "s1_fuse.bn.running_mean",
    "t_res2_2_branch2c_bn_subsample_w": "s2_fuse.conv_f2s.weight",
    "t_res2_2_branch2c_bn_subsample_bn_s": "s2_fuse.bn.weight",
    "t_res4_5_branch2c_bn_subsample_bn_riv": "s4_fuse.bn.running_var",
    "t_res4_22_branch2c_bn_subsample_w": "s4_fuse.conv_f2s.weight",
    "res2_0_branch1_w": "s2.pathway0_res0.branch1.weight",
    "res2_0_branch1_bn_s": "s2.pathway0_res0.branch1_bn.weight",
    "res2_0_branch2a_w": "s2.pathway0_res0.branch2.a.weight",
    "res2_0_branch2a_bn_b": "s2.pathway0_res0.branch2.a_bn.bias",
    "res2_2_branch2c_bn_riv": "s2.pathway0_res2.branch2.c_bn.running_var",
    "t_res2_0_branch2a_w": "s2.pathway1_res0.branch2.a.weight",
    "t_res2_0_branch1_bn_rm": "s2.pathway1_res0.branch1_bn.running_mean",
    "res4_22_branch2b_w": "s4.pathway0_res22.branch2.b.weight",
    "nonlocal_conv3_1_theta_w": "s3.pathway0_nonlocal1.conv_theta.weight",
    "nonlocal_conv3_1_out_b": "s3.pathway0_nonlocal1.conv_out.bias",
    "nonlocal_conv4_5_bn_s": "s4.pathway0_nonlocal5.bn.weight",
    "nonlocal_conv4_5_bn_rm": "s4.pathway0_nonlocal5.bn.running_mean",
    "pred_w": "head.projection.weight",
    "pred_b": "head.projection.bias",
}


@pytest.mark.parametrize("caffe2_name,torch_name", CAFFE2_EXAMPLES.items())
def test_caffe2_names(caffe2_name, torch_name):
  assert names.caffe2_to_pyslowfast(caffe2_name) == torch_name


def test_caffe2_non_weights():
  assert names.is_caffe2_non_weight("conv1_w_momentum")
  assert names.is_caffe2_non_weight("lr")
  assert names.is_caffe2_non_weight("model_iter")
  assert not names.is_caffe2_non_weight("res2_0_branch2a_w")
  assert names.caffe2_to_pyslowfast("unknown_blob") == "unknown_blob"


@refs.requires_references
def test_pytorchvideo_names_of_the_release_manifest():
  """Every pytorchvideo name of SlowFast 8×8 R50 maps to its PySlowFast name."""
  rows = refs.read_manifest(
      refs.FULL_MODEL_KEYS_DIR / "SLOWFAST_8x8_R50_with_pytorchvideo_names.tsv")
  pytorchvideo = {row[2][0]: row[0] for row in rows}
  assert len(pytorchvideo) == 662
  assert names.pytorchvideo_to_pyslowfast(list(pytorchvideo)) == pytorchvideo


def test_pytorchvideo_stages_are_found_past_a_pool_block():
  """C2D/I3D hub models have a parameterless pool as `blocks.2` after res2."""
  mapping = names.pytorchvideo_to_pyslowfast([
      "blocks.0.conv.weight", "blocks.1.res_blocks.0.branch1_conv.weight",
      "blocks.3.res_blocks.1.branch2.norm_b.running_var",
      "blocks.4.res_blocks.5.branch1_norm.weight",
      "blocks.5.res_blocks.2.branch2.conv_c.weight", "blocks.6.proj.bias"])
  assert list(mapping.values()) == [
      "s1.pathway0_stem.conv.weight", "s2.pathway0_res0.branch1.weight",
      "s3.pathway0_res1.branch2.b_bn.running_var",
      "s4.pathway0_res5.branch1_bn.weight",
      "s5.pathway0_res2.branch2.c.weight", "head.projection.bias"]


def test_flax_names():
  assert names.flax_to_pyslowfast(
      "params", ("fast_res4", "block0", "shortcut_conv", "kernel")) == \
      "s4.pathway1_res0.branch1.weight"
  assert names.flax_to_pyslowfast(
      "batch_stats", ("fuse3", "bn", "var")) == "s3_fuse.bn.running_var"
  assert names.flax_to_pyslowfast(
      "params", ("slow_res4", "nonlocal5", "theta", "bias")) == \
      "s4.pathway0_nonlocal5.conv_theta.bias"
  with pytest.raises(names.UnknownFlaxVariableError, match="slow_res2/block0/se"):
    names.flax_to_pyslowfast("params", ("slow_res2", "block0", "se", "kernel"))


@pytest.mark.parametrize("fusion", ["time_to_channel", "time_strided_sample"])
def test_parameterless_fusions_have_no_fusion_tensors(fusion):
  config = tiny_model_config("slowfast_8x8_r50")
  config.fusion = fusion
  targets = target.target_variables(config)
  assert not [n for n in targets if "_fuse." in n]
  assert "s2.pathway0_res0.branch2.a.weight" in targets


def _synthetic_source(rows, name_column=None) -> formats.SourceTensors:
  """Zero tensors (no memory: broadcast views) with a manifest's names/shapes."""
  zero = np.zeros((), np.float32)
  tensors = {(row[2][0] if name_column else row[0]): np.broadcast_to(zero, row[1])
             for row in rows}
  return formats.SourceTensors("synthetic", "synthetic", tensors, False, "", {})


FULL_MODEL_MANIFESTS = sorted(p.name for p in
                              refs.FULL_MODEL_KEYS_DIR.glob("*_R*_keys.tsv"))


@refs.requires_references
@pytest.mark.parametrize("manifest", FULL_MODEL_MANIFESTS)
def test_full_size_release_state_dict_fills_the_preset_exactly(manifest):
  """All names and shapes of a full release model ↔ the preset's variables."""
  preset = manifest[:-len("_keys.tsv")].lower()
  rows = refs.read_manifest(refs.FULL_MODEL_KEYS_DIR / manifest)
  variables, report = convert.convert_tensors(_synthetic_source(rows),
                                              load_preset(preset).model)
  # convert_tensors raises on anything missing, unexpected or mis-shaped; the
  # counts confirm nothing was skipped.
  num_buffers = sum(n.endswith("num_batches_tracked") for n, _, _ in rows)
  assert report.num_tensors == len(rows) - num_buffers
  assert report.num_dropped_buffers == num_buffers
  torch_params = sum(int(np.prod(shape)) for name, shape, _ in rows
                     if not name.endswith(("running_mean", "running_var",
                                           "num_batches_tracked")))
  assert report.num_params == torch_params


def test_every_full_model_manifest_is_tested():
  assert len(FULL_MODEL_MANIFESTS) == 9 or not refs.REFERENCES


@refs.requires_references
def test_full_size_pytorchvideo_state_dict_fills_slowfast_8x8_r50():
  rows = refs.read_manifest(
      refs.FULL_MODEL_KEYS_DIR / "SLOWFAST_8x8_R50_with_pytorchvideo_names.tsv")
  _, report = convert.convert_tensors(
      _synthetic_source(rows, name_column=True),
      load_preset("slowfast_8x8_r50").model)
  assert report.naming == "pytorchvideo"
  assert report.num_params == 34_566_488


@pytest.mark.parametrize("hub_name,preset,res3_block", [
    ("slow_r50", "slow_8x8_r50", 2),
    ("c2d_r50", "c2d_8x8_r50", 3),  # blocks.2 is the pool after res2.
    ("i3d_r50", "i3d_8x8_r50", 3)])
def test_pytorchvideo_hub_resnets_fill_the_presets(hub_name, preset, res3_block):
  """The hub's single-pathway builders have exactly the preset's tensors."""
  net = getattr(torch_stubs.import_pytorchvideo_hub(), hub_name)(pretrained=False)
  tensors = {k: v.numpy() for k, v in net.state_dict().items()}
  source = formats.SourceTensors(hub_name, "state dict", tensors, False, "", {})
  variables, report = convert.convert_tensors(source, load_preset(preset).model)
  assert report.naming == "pytorchvideo"
  np.testing.assert_array_equal(
      variables["params"]["slow_res3"]["block1"]["conv_a"]["kernel"],
      tensors[f"blocks.{res3_block}.res_blocks.1.branch2.conv_a.weight"]
      .transpose(2, 3, 4, 1, 0))
