"""Data-parallel training on simulated devices and on several local processes.

The device count is fixed when JAX starts, so each configuration runs in a
subprocess (`sharding_worker.py`, or `train.py` itself).
"""

import subprocess
import sys

import numpy as np
import pytest

from slowfast_jax import checkpoint

import processes
import train_configs

WORKER = train_configs.ROOT / "tests" / "sharding_worker.py"


@pytest.fixture(scope="module")
def worker_results(tmp_path_factory):
  out = tmp_path_factory.mktemp("sharding") / "results.npz"
  result = subprocess.run(
      [sys.executable, str(WORKER), str(out)], cwd=WORKER.parent,
      env=processes.subprocess_env(devices=8), capture_output=True,
      text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-4000:]
  return dict(np.load(out))


def test_step_on_8_devices_equals_step_on_1_device(worker_results):
  r = worker_results
  np.testing.assert_allclose(r["mesh8_losses"], r["mesh1_losses"], rtol=1e-5,
                             atol=1e-5)
  names = [k[len("mesh8_var"):] for k in r if k.startswith("mesh8_var")]
  assert len(names) > 100  # Every parameter and BatchNorm statistic.
  for name in names:
    np.testing.assert_allclose(r["mesh8_var" + name], r["mesh1_var" + name],
                               rtol=1e-5, atol=1e-5, err_msg=name)
  # The steps changed most variables (the comparison is not vacuous).
  moved = [not np.allclose(r["mesh8_var" + n], r["init_var" + n])
           for n in names]
  assert np.isfinite(r["mesh8_losses"]).all() and np.mean(moved) > 0.5


def numpy_grouped_bn(x, group, scale, bias, eps=1e-5, momentum=0.9):
  """The release's BatchNorm3d per group of `group` clips, in float64."""
  x = x.astype(np.float64)
  channels = x.shape[-1]
  groups = x.shape[0] // group if group else 1
  grouped = x.reshape(groups, -1, channels)
  mean = grouped.mean(axis=1)
  var = grouped.var(axis=1)  # Biased, for normalizing.
  y = (grouped - mean[:, None]) / np.sqrt(var[:, None] + eps) * scale + bias
  count = grouped.shape[1]
  running_mean = (1 - momentum) * mean.mean(0)
  running_var = momentum + (1 - momentum) * (var * count / (count - 1)).mean(0)
  return y.reshape(x.shape), running_mean, running_var


@pytest.mark.parametrize("group", [2, 4, 0])
def test_grouped_batchnorm_on_8_devices_matches_numpy(worker_results, group):
  r = worker_results
  x = r["bn_input"]
  channels = x.shape[-1]
  y, mean, var = numpy_grouped_bn(x, group, np.linspace(0.5, 1.5, channels),
                                  np.linspace(-1, 1, channels))
  np.testing.assert_allclose(r[f"bn{group}_output"], y, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(r[f"bn{group}_mean"], mean, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(r[f"bn{group}_var"], var, rtol=1e-5, atol=1e-5)


def test_groups_aligned_with_devices_need_no_communication(worker_results):
  # 16 clips on 8 devices: groups of 2 live on one device each; groups of 4
  # and the global batch need cross-device sums.
  assert int(worker_results["bn2_reductions"]) == 0
  assert int(worker_results["bn4_reductions"]) > 0
  assert int(worker_results["bn0_reductions"]) > 0


def test_two_processes_of_two_devices_equal_one_process_of_four(tmp_path):
  # 3 steps of 8 clips; each process feeds its 4 rows of the global batch.
  # At the tiny config's usual LR (0.05) the third step's gradient of this
  # width-8 model moves by ~1e-4 for a 1-ulp change of the parameters (the
  # same with autodiff through BatchNorm and with its closed form), so any
  # change of summation order shows; 0.01 keeps the steps well conditioned.
  overrides = {"num_epochs": 1, "data.fake_train_size": 24,
               "checkpoint_every_steps": 0, "model.bn_group_size": 2,
               "optim.base_lr": 0.01}
  port = processes.free_port()
  multi = tmp_path / "two_processes"
  log_paths = [tmp_path / f"process{i}.txt" for i in range(2)]
  workers = [
      train_configs.start_train(
          multi, overrides, log_path=log_paths[i], devices=2,
          extra_args=[f"--coordinator_address=127.0.0.1:{port}",
                      "--num_processes=2", f"--process_id={i}"])
      for i in range(2)]
  single = tmp_path / "one_process"
  status = train_configs.run_train(single, overrides,
                                   log_path=tmp_path / "single.txt", devices=4,
                                   timeout=600)
  logs = processes.wait_all(workers, log_paths, timeout=600)
  assert status == 0, (tmp_path / "single.txt").read_text()[-3000:]
  assert "on 4 devices (2 hosts)" in logs[0]
  ours, _ = checkpoint.restore_variables(multi / "checkpoints", step=3)
  reference, _ = checkpoint.restore_variables(single / "checkpoints", step=3)
  import jax  # pylint: disable=g-import-not-at-top
  for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(ours)[0],
                          jax.tree.leaves(reference)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5,
                               atol=1e-5, err_msg=jax.tree_util.keystr(path))
