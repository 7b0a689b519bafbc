"""Devices, hosts and global arrays: one `Mesh` with a `data` axis.

Every device of every host is on the `data` axis. The batch is split over it
(each host feeds the rows of its own devices) and everything else (parameters,
BatchNorm statistics, optimizer state) is replicated. One `jax.jit` step then
runs on the whole mesh; XLA inserts the gradient all-reduce.
"""

import json
import os
from typing import Any, Mapping

from absl import logging
import jax
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

DATA_AXIS = "data"


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None,
                           auto: bool = False) -> None:
  """Starts `jax.distributed` when running on several hosts.

  Explicit arguments win; otherwise the environment variables
  `JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID` are
  read (GPU clusters). `auto=True` with nothing set lets JAX detect the
  cluster itself (Cloud TPU pods, Slurm, Open MPI). With nothing set and
  `auto=False` this is a single-host run and nothing happens.
  """
  env = os.environ
  coordinator_address = coordinator_address or env.get(
      "JAX_COORDINATOR_ADDRESS") or None
  if num_processes is None and env.get("JAX_NUM_PROCESSES"):
    num_processes = int(env["JAX_NUM_PROCESSES"])
  if process_id is None and env.get("JAX_PROCESS_ID"):
    process_id = int(env["JAX_PROCESS_ID"])
  explicit = (coordinator_address, num_processes, process_id)
  if not auto and all(x is None for x in explicit):
    return
  logging.info("jax.distributed.initialize(coordinator_address=%s, "
               "num_processes=%s, process_id=%s)", *explicit)
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes,
                             process_id=process_id)


def make_mesh(devices: list[jax.Device] | None = None) -> Mesh:
  """A one-axis mesh (`data`) over `devices` (default: all devices of all hosts)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def data_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over `data`."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def local_device_count(mesh: Mesh) -> int:
  """Devices of this process in `mesh`."""
  return sum(d.process_index == jax.process_index() for d in mesh.devices.flat)


def global_batch(host_batch: Mapping[str, np.ndarray], mesh: Mesh
                 ) -> dict[str, jax.Array]:
  """This host's rows `(host_batch, ...)` → global arrays `(global_batch, ...)`.

  Host `i` holds rows `[i * host_batch, (i + 1) * host_batch)` of the global
  batch (hosts in process order, as the data pipeline shards).
  """
  sharding = data_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in host_batch.items()}


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Host-identical arrays (numpy or jax) → arrays replicated on every device."""
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
      tree)


def abstract_replicated(tree: Any, mesh: Mesh) -> Any:
  """`ShapeDtypeStruct`s of `tree`, replicated on `mesh` (orbax restore targets)."""
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


def fetch(tree: Any) -> Any:
  """Replicated (or fully addressable) arrays → numpy on this host."""
  return jax.tree.map(lambda x: np.asarray(jax.device_get(x)), tree)


def allgather_json(value: Any) -> list[Any]:
  """Every process's `value` (JSON-serializable), in process order.

  For host-side metadata such as strings, which no jitted step carries. A
  collective: every process must call it, in the same order.
  """
  if jax.process_count() == 1:
    return [value]  # Spares a compile.
  data = np.frombuffer(json.dumps(value).encode(), np.uint8)
  # Rows must have one shape on every host: pad to the longest.
  sizes = multihost_utils.process_allgather(np.int32(len(data)))
  padded = np.zeros(int(sizes.max()), np.uint8)
  padded[:len(data)] = data
  rows = multihost_utils.process_allgather(padded)
  return [json.loads(row[:size].tobytes()) for row, size in zip(rows, sizes)]
