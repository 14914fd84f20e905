#!/usr/bin/env bash
# Issue 11 on real images: two Fashion-MNIST epochs with the paper's settings, run as the library ran when the issue
# was filed (no process tuning, managed kernels) and with the defaults now, back to back, for PD-CP K=16 (lr 0.1) and
# QG-CP K=16 (lr 0.01). `bench` times random pixels, which do not show what real data costs (subnormal floats, for one).
# Needs Fashion-MNIST (apt-get install -y dataset-fashion-mnist). Prints the epoch lines of each run.
# Usage: tools/epochs-before-after.sh CLI_DIR [epochs]
set -euo pipefail
cli=${1:?usage: tools/epochs-before-after.sh CLI_DIR [epochs]}/circuits.dll
epochs=${2:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for cfg in "PD 0.1" "QG 0.01"; do
  read -r rg lr <<<"$cfg"
  order=(before after); [ "$rg" = QG ] && order=(after before)   # alternate which goes first
  for variant in "${order[@]}"; do
    echo "== $variant $rg-CP K=16, lr $lr"
    env=(); [ "$variant" = before ] && env=(CIRCUITS_PROCESS_TUNING=0 CIRCUITS_KERNEL=managed)
    env "${env[@]}" dotnet "$cli" train --dataset fashion_mnist --rg "$rg" --layer cp --k 16 --lr "$lr" --batch-size 256 \
      --max-num-epochs "$epochs" --seed 42 --model-dir "$work/$variant-$rg" | grep -E '^(epoch|stopped)'
  done
done
