#!/usr/bin/env bash
# Runs `bench` of two builds of the command line back to back, alternating, for the configurations of
# docs/benchmarks.md, and prints each build's rows. Usage: tools/bench-compare.sh OLD_CLI_DIR NEW_CLI_DIR [rounds] [threads]
set -euo pipefail
old=$1; new=$2; rounds=${3:-2}; threads=${4:-2}
configs=("--rg QG --layer cp --k 16" "--rg QG --layer cp --k 64" "--rg PD --layer cp --k 16")
for config in "${configs[@]}"; do
  for round in $(seq "$rounds"); do
    for build in old new; do
      dir=$old; [ "$build" = new ] && dir=$new
      echo "## $build round $round: bench $config --batch-size 256 --steps 10 --warmup 2 --device cpu --threads "$threads""
      dotnet "$dir/circuits.dll" bench $config --batch-size 256 --steps 10 --warmup 2 --device cpu --threads "$threads" | tail -1
    done
  done
done
