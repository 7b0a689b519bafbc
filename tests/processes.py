"""Child JAX processes for the tests: simulated devices, loopback clusters.

The device count and `jax.distributed` are fixed when JAX starts, so tests of
several devices or several processes run the entry points (`train.py`,
`eval.py`) or a worker script in children, with their output in a log file.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Every test process compiles with these (conftest.py says why).
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
# XLA:CPU's older emitters compile the tiny models' programs about twice as
# fast as its fusion emitters. XLA aborts on a flag it does not know, so this
# one is only set for the jaxlib versions where it was measured.
_LEGACY_EMITTERS = "--xla_cpu_use_fusion_emitters=false"
_JAXLIB_WITH_LEGACY_EMITTERS = ((0, 10),)


def _test_flags() -> str:
  import jaxlib.version  # pylint: disable=g-import-not-at-top
  version = tuple(int(p) for p in jaxlib.version.__version__.split(".")[:2])
  if version in _JAXLIB_WITH_LEGACY_EMITTERS:
    return f"{TEST_XLA_FLAGS} {_LEGACY_EMITTERS}"
  return TEST_XLA_FLAGS


def with_test_xla_flags(xla_flags: str) -> str:
  """`xla_flags` with the test processes' compiler flags added (once)."""
  if TEST_XLA_FLAGS in xla_flags:
    return xla_flags
  return f"{xla_flags} {_test_flags()}".strip()


def subprocess_env(devices: int = 1, **extra) -> dict:
  """Environment of a child JAX process with `devices` simulated CPU devices.

  It inherits the session's compilation cache and compiler flags
  (`conftest.py`).
  """
  env = dict(os.environ)
  env.update(JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="",
             TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT),
             XLA_FLAGS=with_test_xla_flags(
                 f"--xla_force_host_platform_device_count={devices}"))
  env.update({k: str(v) for k, v in extra.items()})
  return env


def free_port() -> int:
  """A free TCP port on loopback, for a `jax.distributed` coordinator."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def distributed_env(port: int, num_processes: int, process_id: int) -> dict:
  """`sharding.initialize_distributed`'s variables for a loopback cluster."""
  return dict(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
              JAX_NUM_PROCESSES=num_processes, JAX_PROCESS_ID=process_id)


def launch(command: list[str], *, log_path, devices: int = 1,
           **env) -> subprocess.Popen:
  """Starts `command` in the repository root, its output to `log_path`."""
  with open(log_path, "ab") as log:  # The child keeps its own descriptor.
    return subprocess.Popen(command, cwd=ROOT,
                            env=subprocess_env(devices, **env),
                            stdout=log, stderr=subprocess.STDOUT)


def wait_all(processes: list[subprocess.Popen], log_paths,
             timeout: float) -> list[str]:
  """Waits for every process; fails showing the logs unless all exit 0.

  Returns the logs' text, in the order of `processes`.
  """
  statuses = [p.wait(timeout=timeout) for p in processes]
  logs = [pathlib.Path(p).read_text() for p in log_paths]
  assert statuses == [0] * len(processes), "\n".join(
      f"--- process {i} exited {s}:\n{log[-3000:]}"
      for i, (s, log) in enumerate(zip(statuses, logs)))
  return logs


def run_json_child(script: str, *argv: str, xla_flags: str | None = None
                   ) -> dict:
  """Runs `python -c script *argv` on CPU with the package importable (and
  `XLA_FLAGS` set to `xla_flags`, or unset); returns its last stdout line,
  parsed as JSON."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
  env.pop("XLA_FLAGS", None)
  if xla_flags is not None:
    env["XLA_FLAGS"] = xla_flags
  out = subprocess.run([sys.executable, "-c", script, *argv], env=env,
                       check=True, capture_output=True, text=True).stdout
  return json.loads(out.splitlines()[-1])
