#!/usr/bin/env bash
# Issue 11's before/after table: `bench` (training step and forward pass) and `bench-transform` (ML.NET scoring) of
# one build of the command line, run as the library ran when the issue was filed — no process tuning, managed kernels,
# log-sum-exp — and as it runs now by default, back to back in separate processes (the process tuning is applied at
# start-up, so it cannot be switched inside one process), alternating which goes first, for each configuration.
# Prints every row, then the medians over the rounds and the speed-up (before / after).
# Usage: tools/bench-before-after.sh CLI_DIR [rounds] [threads]
set -euo pipefail
cli=${1:?usage: tools/bench-before-after.sh CLI_DIR [rounds] [threads]}/circuits.dll
rounds=${2:-3}; threads=${3:-2}
log=$(mktemp)
configs=("--rg QG --layer cp --k 16" "--rg QG --layer cp --k 64" "--rg PD --layer cp --k 16" "--rg QG --layer tucker --k 16")
before() { CIRCUITS_PROCESS_TUNING=0 CIRCUITS_KERNEL=managed dotnet "$cli" "$@"; }
after() { dotnet "$cli" "$@"; }
native() { CIRCUITS_KERNEL=native dotnet "$cli" "$@"; }
run() {   # run VARIANT KIND CONFIG...: one process, its last table row tagged
  local variant=$1 kind=$2; shift 2
  local extra=(); [ "$variant" = before ] && [ "$kind" = bench ] && extra=(--semiring log-sum-exp)
  local out row tuning
  out=$("$variant" "$kind" "$@" "${extra[@]}" --threads "$threads")
  row=$(grep '^| ' <<<"$out" | tail -1)
  tuning=$(grep -m1 '^process tuning:' <<<"$out" || true)   # bench prints it (OpenMP waiting depends on the load)
  echo "$variant|$kind|$*|$row" | tee -a "$log"
  if [ -n "$tuning" ]; then echo "    $tuning"; fi
}
for config in "${configs[@]}"; do
  for round in $(seq "$rounds"); do
    order=(before after); [ $((round % 2)) -eq 0 ] && order=(after before)
    for v in "${order[@]}"; do run "$v" bench $config --batch-size 256 --steps 5 --warmup 1; done
  done
done
for config in "--rg QT --layer cp --k 64" "--rg QG --layer cp --k 16"; do
  for round in $(seq "$rounds"); do
    order=(before after native); [ $((round % 2)) -eq 0 ] && order=(native after before)
    for v in "${order[@]}"; do run "$v" bench-transform $config --repeats 3; done
  done
done
python3 - "$log" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    variant, kind, config, row = line.rstrip('\n').split('|', 3)
    cells = [c.strip() for c in row.strip().strip('|').split('|')]
    rows.setdefault((kind, config), {}).setdefault(variant, []).append(cells)
def num(s): return float(s.replace(',', ''))
print()
print('| command | configuration | before | after | speed-up (before / after) |')
print('|---|---|---|---|---|')
for (kind, config), variants in rows.items():
    if kind == 'bench':
        # columns: rg, layer, K, params, batch, device, kernel, path, train ms, syncs, images/s, forward ms, peak
        for name, col in (('train ms/step', 8), ('forward ms', 11)):
            b = statistics.median(num(c[col]) for c in variants['before'])
            a = statistics.median(num(c[col]) for c in variants['after'])
            kernel = variants['after'][0][6] + ' ' + variants['after'][0][7]
            print(f'| bench {name} | {config} | {b:.1f} | {a:.1f} ({kernel}) | ×{b / a:.2f} |')
    else:
        # columns: circuit, parameters, rows, scoring batch, Transform + cursor rows/s, PredictionEngine rows/s
        for v in ('after', 'native'):
            for name, col in (('Transform rows/s', 4), ('PredictionEngine rows/s', 5)):
                b = statistics.median(num(c[col]) for c in variants['before'])
                a = statistics.median(num(c[col]) for c in variants[v])
                print(f'| bench-transform {name} ({v}) | {config} | {b:,.0f} | {a:,.0f} | ×{a / b:.2f} |')
PY
rm -f "$log"
