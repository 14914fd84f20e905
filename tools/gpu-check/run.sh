#!/usr/bin/env bash
# The GPU check, run ON THE GPU HOST (no .NET SDK needed): the bundle that tools/gpu-check/prepare.sh made
# (out/gpu-check/: this script, app.tar.xz, BUILD.txt) runs against PyTorch's libtorch through LD_LIBRARY_PATH.
# Steps: find libtorch, check that TorchSharp sees CUDA, run a few CPU tests (does the bundle work?) and the CUDA tests
# (GpuTests), run `circuits bench` for the anchor configurations of ../shared/reference/anchors.md, and print a
# markdown table LAST (also in summary.md).
# See tools/gpu-check/README.md.
#
# Usage: run.sh [options] [LOG_DIR]          (LOG_DIR default: $OUT if set, else ./gpu-check-logs)
#   --device cuda|cuda:N|cpu   where the tests and bench run (default cuda; cpu is the dry run)
#   --quick                    one small configuration (QG cp K=8), 1 warm-up + 2 timed steps: for a dry run on a CPU
#   --config "BENCH ARGS"      a configuration to bench instead of the anchors (repeatable), e.g. "--rg QG --layer cp --k 64"
#   --steps N --warmup N --batch-size N   bench protocol (default 20 / 3 / 256, as the anchors)
#   --bench-args "ARGS"        more arguments for every bench (e.g. "--semiring log-sum-exp" or "--threads 2")
#   --timeout S                seconds per bench configuration before it is stopped (default 300; each test run: 600,
#                              GPU_CHECK_TESTS_TIMEOUT)
#   --torch-lib DIR            the libtorch folder (default: GPU_CHECK_TORCH_LIB, else PyTorch's torch/lib, else on
#                              --device cpu the CPU libtorch of the NuGet cache)
# Environment: GPU_CHECK_TORCH_LIB, GPU_CHECK_PYTHON (default python3), GPU_CHECK_APP (where to unpack the program).
# Exit code: 0 all well; 1 a test failed or the program did not run; 3 no libtorch, or no CUDA with --device cuda;
# 4 some bench configurations failed (their rows say why).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
device=cuda; quick=0; configs=(); steps=""; warmup=""; batch=256; bench_args=""; per_timeout=${GPU_CHECK_TIMEOUT:-300}
tests_timeout=${GPU_CHECK_TESTS_TIMEOUT:-600}
torch_lib=${GPU_CHECK_TORCH_LIB:-}; python=${GPU_CHECK_PYTHON:-python3}; logdir=""

while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --config) configs+=("$2"); shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    --bench-args) bench_args=$2; shift 2 ;;
    --timeout) per_timeout=$2; shift 2 ;;
    --torch-lib) torch_lib=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) logdir=$1; shift ;;
  esac
done
case "$device" in cpu|cuda|cuda:[0-9]*) ;; *) echo "run.sh: --device must be cpu, cuda or cuda:N" >&2; exit 2 ;; esac

# The anchor configurations (anchors.md: cirkit on one H100, batch 256) and cirkit's train ms/step for each.
anchor_configs=("--rg QG --layer cp --k 512" "--rg QG --layer cp --k 128" "--rg QG --layer cp --k 64"
                "--rg QT --layer cp --k 512" "--rg PD --layer cp --k 64" "--rg QG --layer tucker --k 64")
cirkit_ms() { # rg layer k batch -> cirkit's train ms/step, or nothing
  [ "$4" = 256 ] || return 0
  case "$1 $2 $3" in
    "QG cp 512") echo 117.66 ;; "QG cp 128") echo 32.51 ;; "QG cp 64") echo 29.12 ;;
    "QT cp 512"|"QT4 cp 512") echo 41.23 ;; "PD cp 64") echo 39.15 ;; "QG tucker 64") echo 76.51 ;;
  esac
}
if [ ${#configs[@]} -eq 0 ]; then
  if [ $quick = 1 ]; then configs=("--rg QG --layer cp --k 8"); else configs=("${anchor_configs[@]}"); fi
fi
if [ $quick = 1 ]; then steps=${steps:-2}; warmup=${warmup:-1}; else steps=${steps:-20}; warmup=${warmup:-3}; fi

logdir=${logdir:-${OUT:-$PWD/gpu-check-logs}}
mkdir -p "$logdir" || exit 1
logdir=$(cd "$logdir" && pwd)
log=$logdir/gpu-check.log; summary=$logdir/summary.md
: > "$log"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

header=(); table=(); problems=(); exit_code=0
say() { echo "$*"; echo "$*" >> "$log"; }
section() { echo; echo "== $* =="; printf '\n### %s\n' "$*" >> "$log"; }
problem() { # message, exit code (the lowest non-zero one wins)
  problems+=("$1")
  if [ "$exit_code" = 0 ] || [ "$2" -lt "$exit_code" ]; then exit_code=$2; fi
}

# The summary: header lines, problems, then the table, LAST on stdout (and in summary.md).
finish() {
  {
    echo
    printf '%s\n' "${header[@]}"
    if [ ${#problems[@]} -eq 0 ] && [ "$device" = cpu ]; then echo "- result: dry run passed (on the CPU the CUDA tests are skipped)"
    elif [ ${#problems[@]} -eq 0 ]; then echo "- result: all checks passed"; else for p in "${problems[@]}"; do echo "- PROBLEM: $p"; done; fi
    if [ ${#table[@]} -gt 0 ]; then
      echo
      echo "| config | parameters | kernel | path | train ms/step | train images/s | forward ms | peak GiB (process) | GPU MiB (nvidia-smi) | cirkit ms/step (H100) | ours / cirkit |"
      echo "|---|---|---|---|---|---|---|---|---|---|---|"
      printf '%s\n' "${table[@]}"
    fi
  } | tee "$summary"
  cat "$summary" >> "$log"
  exit "$exit_code"
}

# --- header: date, card, bundle -------------------------------------------------------------------------------------
gpu_index=0; [[ "$device" == cuda:* ]] && gpu_index=${device#cuda:}
header+=("## GPU check, $(date -u '+%Y-%m-%d %H:%M UTC') ($(hostname))")
if [ "$device" = cpu ]; then
  cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')
  header+=("- card: none: dry run on the CPU (${cpu:-unknown CPU}, $(nproc) cores)")
elif command -v nvidia-smi >/dev/null 2>&1; then
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader -i "$gpu_index" 2>&1 | head -1)
  more=$(nvidia-smi --query-gpu=memory.total,driver_version --format=csv,noheader -i "$gpu_index" 2>/dev/null | head -1)
  header+=("- card: $card (GPU $gpu_index; $more)")
else
  header+=("- card: unknown (nvidia-smi not found)")
fi
[ -f "$here/BUILD.txt" ] && header+=("- bundle: $(tr '\n' ' ' < "$here/BUILD.txt" | sed 's/ *$//')")
section "check: $device, logs in $logdir"
printf '%s\n' "${header[@]}" | tee -a "$log"

# --- the program: unpack app.tar.xz once -----------------------------------------------------------------------------
app=${GPU_CHECK_APP:-$here/app}
if [ -f "$here/app.tar.xz" ] && { [ ! -x "$app/gpu-check" ] || [ "$here/app.tar.xz" -nt "$app/.unpacked" ]; }; then
  if ! mkdir -p "$app" 2>/dev/null || [ ! -w "$app" ]; then app=${TMPDIR:-/tmp}/gpu-check-app; mkdir -p "$app"; fi
  rm -rf "${app:?}"/* && say "unpacking app.tar.xz into $app"
  if ! tar -xJf "$here/app.tar.xz" -C "$app" 2>>"$log"; then
    # No xz on the host: Python's tarfile reads .tar.xz too.
    "$python" -c "import sys,tarfile;tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$here/app.tar.xz" "$app" 2>>"$log" \
      || { problem "could not unpack $here/app.tar.xz (see gpu-check.log)" 1; finish; }
  fi
  touch "$app/.unpacked"
fi
if [ ! -x "$app/gpu-check" ]; then problem "no program at $app/gpu-check: run tools/gpu-check/prepare.sh where the .NET SDK is" 1; finish; fi

# --- libtorch: PyTorch's (CUDA) or, for a dry run, the CPU one of the NuGet cache ----------------------------------
if [ -z "$torch_lib" ] && command -v "$python" >/dev/null 2>&1; then
  torch_lib=$("$python" -c "import torch,os;print(os.path.join(os.path.dirname(torch.__file__),'lib'))" 2>/dev/null) || torch_lib=""
  [ -n "$torch_lib" ] && torch_info=$("$python" -c "import torch;print(f'PyTorch {torch.__version__}, CUDA {torch.version.cuda}')" 2>/dev/null)
fi
if [ -z "$torch_lib" ] && [ "$device" = cpu ]; then
  for d in "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/libtorch-cpu-linux-x64/*/runtimes/linux-x64/native; do
    [ -f "$d/libtorch.so" ] && { torch_lib=$d; torch_info="the NuGet cache's CPU libtorch"; }
  done
fi
if [ -z "$torch_lib" ] || [ ! -f "$torch_lib/libtorch.so" ]; then
  problem "no libtorch found${torch_lib:+ (no libtorch.so in $torch_lib)}: install PyTorch for $python, or set GPU_CHECK_TORCH_LIB / --torch-lib" 3
  finish
fi
export LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
header+=("- libtorch: $torch_lib (${torch_info:-version unknown})")
say "libtorch: $torch_lib (${torch_info:-version unknown})"

# --- does TorchSharp see CUDA? ---------------------------------------------------------------------------------------
section "gpu-check info"
timeout --kill-after=15 120 "$app/gpu-check" info > "$tmp/info" 2>&1; info_rc=$?
tee -a "$log" < "$tmp/info"
header+=("- $(grep -m1 '^TorchSharp' "$tmp/info"); $(grep -m1 '^cuda available' "$tmp/info")$(grep -m1 '^cuda devices' "$tmp/info" | sed 's/^/, /')")
if [ "$device" != cpu ] && [ $info_rc != 0 ]; then
  problem "TorchSharp does not see CUDA with $torch_lib (gpu-check info exited $info_rc; see gpu-check.log)" 3
  finish
fi

# --- the bundle itself: CPU tests that load the MNIST sample, train, and write and read a model file ------------------
section "CPU tests, a check of the bundle (gpu-check tests --class TrainerTests --class CircuitModelTests)"
timeout --kill-after=15 "$tests_timeout" "$app/gpu-check" tests --class TrainerTests --class CircuitModelTests > "$tmp/cpu" 2> "$tmp/cpu.err"; cpu_rc=$?
cat "$tmp/cpu"; cat "$tmp/cpu" "$tmp/cpu.err" >> "$log"
cpu_line=$(grep -m1 '^tests:' "$tmp/cpu" || echo "tests: did not finish (exit code $cpu_rc$([ $cpu_rc = 124 ] && echo ", timed out after $tests_timeout s"))")
header+=("- CPU tests (TrainerTests, CircuitModelTests: the bundle works): ${cpu_line#tests: }")
if [ $cpu_rc != 0 ] || ! grep -q '^tests:' "$tmp/cpu"; then problem "CPU tests: ${cpu_line#tests: } (see gpu-check.log)" 1; fi

# --- the CUDA tests --------------------------------------------------------------------------------------------------
section "CUDA tests (gpu-check tests)"
timeout --kill-after=15 "$tests_timeout" "$app/gpu-check" tests > "$tmp/tests" 2> "$tmp/tests.err"; tests_rc=$?
cat "$tmp/tests"; cat "$tmp/tests" "$tmp/tests.err" >> "$log"
tests_line=$(grep -m1 '^tests:' "$tmp/tests" || echo "tests: did not finish (exit code $tests_rc$([ $tests_rc = 124 ] && echo ", timed out after $tests_timeout s"))")
header+=("- CUDA tests (GpuTests): ${tests_line#tests: }")
if [ $tests_rc != 0 ] || ! grep -q '^tests:' "$tmp/tests"; then problem "CUDA tests: ${tests_line#tests: } (see gpu-check.log)" 1
elif [ "$device" != cpu ] && ! grep -q ' 0 skipped' <<< "$tests_line"; then problem "CUDA tests were skipped although CUDA is visible" 1
fi

# --- bench for each configuration --------------------------------------------------------------------------------------
header+=("- bench: batch $batch, $warmup warm-up + median of $steps steps, --device $device${bench_args:+ $bench_args}, at most ${per_timeout} s per configuration; cirkit: ../shared/reference/anchors.md (H100, batch 256); peak GiB is the process's host memory, GPU MiB the card's most used memory over idle as nvidia-smi sampled it")
parse_config() { # bench args -> c_rg, c_layer, c_k (bench's defaults where not given) and the label "QG CP K=512"
  c_rg=QT; c_layer=cp; c_k=128; local prev="" w
  for w in $1; do case "$prev" in --rg) c_rg=${w^^} ;; --layer) c_layer=${w,,} ;; --k) c_k=$w ;; esac; prev=$w; done
  local g=$c_rg l=${c_layer^^}
  case "$c_rg" in QT|QT4) g=QT-4 ;; QT2) g=QT-2 ;; esac
  case "$c_layer" in tucker) l=Tucker ;; uncollapsed-cp) l=uncollapsed-CP ;; esac
  label="$g $l K=$c_k"
}
bench_failed=0
for config in "${configs[@]}"; do
  parse_config "$config"
  cirkit=$(cirkit_ms "$c_rg" "$c_layer" "$c_k" "$batch")
  section "bench $label: $config"
  smi_pid=""; baseline=""
  if [ "$device" != cpu ] && command -v nvidia-smi >/dev/null 2>&1; then
    baseline=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$gpu_index" 2>/dev/null | head -1)
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$gpu_index" -lms 200 > "$tmp/smi" 2>/dev/null & smi_pid=$!
  fi
  # shellcheck disable=SC2206 # the configuration and the extra arguments are word lists
  command=("$app/gpu-check" circuits bench $config --batch-size "$batch" --steps "$steps" --warmup "$warmup" --device "$device" $bench_args)
  echo "${command[*]}" >> "$log"
  timeout --kill-after=15 "$per_timeout" "${command[@]}" > "$tmp/bench" 2> "$tmp/bench.err"
  rc=$?
  gpu_mib="—"
  if [ -n "$smi_pid" ]; then
    kill "$smi_pid" 2>/dev/null; wait "$smi_pid" 2>/dev/null
    max=$(grep -E '^[0-9]+$' "$tmp/smi" | sort -n | tail -1)
    [ -n "$max" ] && [ -n "$baseline" ] && gpu_mib=$(( max - baseline ))
  fi
  cat "$tmp/bench" "$tmp/bench.err" >> "$log"
  row=$(grep '^| ' "$tmp/bench" | tail -1)
  if [ $rc = 0 ] && [ -n "$row" ] && ! grep -q '^| region graph' <<< "$row"; then
    IFS='|' read -r _ _ _ _ params _ _ kernel path train _ images forward peak _ <<< "$row"
    t() { sed 's/^ *//; s/ *$//' <<< "$1"; }
    train=$(t "$train")
    ratio="—"; [ -n "$cirkit" ] && ratio=$(awk -v a="$train" -v b="$cirkit" 'BEGIN { printf "%.2f", a / b }')
    table+=("| $label | $(t "$params") | $(t "$kernel") | $(t "$path") | $train | $(t "$images") | $(t "$forward") | $(t "$peak") | $gpu_mib | ${cirkit:-—} | $ratio |")
    say "$label: $train ms/step, forward $(t "$forward") ms${cirkit:+, cirkit $cirkit ms/step (ours / cirkit $ratio)}"
  else
    if [ $rc = 124 ] || [ $rc = 137 ]; then why="timed out after ${per_timeout} s"
    elif [ $rc -gt 128 ]; then why="killed by signal $((rc - 128))"
    else why="exit code $rc"; fi
    last=$(grep -v '^[[:space:]]*$' "$tmp/bench.err" | grep -m1 '^error:' || grep -v '^[[:space:]]*$' "$tmp/bench.err" | tail -1)
    last=$(tr '|' '/' <<< "${last:0:300}")
    table+=("| $label | FAILED: $why${last:+: $last} | | | | | | | $gpu_mib | ${cirkit:-—} | — |")
    say "$label: FAILED ($why) ${last}"
    bench_failed=$((bench_failed + 1))
  fi
done
[ $bench_failed -gt 0 ] && problem "$bench_failed of ${#configs[@]} bench configurations failed (their rows say why)" 4
finish
