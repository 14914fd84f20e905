#!/usr/bin/env bash
# Times the trainer itself in two builds of the command line: one epoch of `train` on the first 2,560 images of the
# bundled MNIST sample (10 steps of 256) plus its validation pass, alternating builds. Prints each run's epoch line.
# Usage: tools/train-compare.sh OLD_CLI_DIR NEW_CLI_DIR [rounds] [threads]
set -euo pipefail
old=$1; new=$2; rounds=${3:-2}; threads=${4:-2}
out=$(mktemp -d)
configs=("--rg QG --layer cp --k 16" "--rg QG --layer cp --k 64" "--rg PD --layer cp --k 16")
for config in "${configs[@]}"; do
  for round in $(seq "$rounds"); do
    for build in old new; do
      dir=$old; [ "$build" = new ] && dir=$new
      line=$(dotnet "$dir/circuits.dll" train --dataset mnist $config --lr 0.01 --batch-size 256 --limit 2560 --max-num-epochs 1 \
        --progressbar false --threads "$threads" --model-dir "$out/$build-$round" | grep '^epoch    1')
      echo "$build round $round | $config | $line"
    done
  done
done
rm -rf "$out"
