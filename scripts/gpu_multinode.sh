#!/usr/bin/env bash
# Multi-node GPU training: run this script on every node (one process per
# node drives all of its GPUs).
#
#   NODE_RANK=0 NUM_NODES=2 COORDINATOR=10.0.0.1:12345 bash scripts/gpu_multinode.sh
#   NODE_RANK=1 NUM_NODES=2 COORDINATOR=10.0.0.1:12345 bash scripts/gpu_multinode.sh
#
# COORDINATOR is node 0's address and a free port reachable from all nodes.
# Under Slurm, skip the variables and let JAX read the allocation:
#   srun --nodes=2 --ntasks-per-node=1 --gpus-per-node=8 \
#     python train.py --config=configs/slowfast_8x8_r50.py \
#       --workdir=/shared/runs/sf8x8 --config.data.data_dir=/shared/data \
#       --jax_distributed
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NODE_RANK:?set NODE_RANK (0..NUM_NODES-1)}"
: "${NUM_NODES:?set NUM_NODES}"
: "${COORDINATOR:?set COORDINATOR=host:port of node 0}"
CONFIG="${CONFIG:-configs/slowfast_8x8_r50.py}"
WORKDIR="${WORKDIR:-/shared/runs/slowfast_8x8_r50}"  # Same path on all nodes.
DATA_DIR="${DATA_DIR:-/shared/data}"
exec python3 train.py \
  --config="$CONFIG" \
  --workdir="$WORKDIR" \
  --config.data.data_dir="$DATA_DIR" \
  --coordinator_address="$COORDINATOR" \
  --num_processes="$NUM_NODES" \
  --process_id="$NODE_RANK" \
  "$@"
