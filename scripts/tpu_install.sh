#!/usr/bin/env bash
# Copies this checkout to every worker of the slice and installs it there.
#   bash scripts/tpu_install.sh
set -euo pipefail
source "$(dirname "$0")/tpu_env.sh"
cd "$(dirname "$0")/.."
tar --exclude=.git --exclude='__pycache__' -czf /tmp/slowfast-jax.tgz .
gcloud compute tpus tpu-vm scp /tmp/slowfast-jax.tgz "$TPU_NAME":~/ \
  --zone="$ZONE" --worker=all
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all \
  --command='set -e
    mkdir -p ~/slowfast-jax && tar -xzf ~/slowfast-jax.tgz -C ~/slowfast-jax
    cd ~/slowfast-jax
    python3 -m pip install --upgrade pip
    python3 -m pip install "jax[tpu]"
    python3 -m pip install -r requirements.txt
    python3 -c "import jax; print(jax.process_index(), jax.local_device_count(), jax.device_count())"'
