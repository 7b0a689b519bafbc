#!/usr/bin/env bash
# Launches train.py on every worker of the slice; data and workdir on gs://.
#   bash scripts/tpu_train.sh [--config.key=value ...]
# Each worker reads its share of the data; worker 0 writes metrics. Running
# the same command again (e.g. after a spot preemption) resumes from the
# latest checkpoint in $WORKDIR.
set -euo pipefail
source "$(dirname "$0")/tpu_env.sh"
overrides="$*"
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all \
  --command="cd ~/slowfast-jax && nohup python3 train.py \
    --config=$CONFIG \
    --workdir=$WORKDIR \
    --config.data.data_dir=$DATA_DIR \
    --jax_distributed \
    $overrides \
    > ~/train.log 2>&1 &"
echo "Started on all workers. Logs: gcloud compute tpus tpu-vm ssh $TPU_NAME --zone=$ZONE --worker=0 --command='tail -f ~/train.log'"
echo "TensorBoard: tensorboard --logdir=$WORKDIR"
