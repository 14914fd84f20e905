#!/usr/bin/env bash
# The GPU check, step 1 of 2, run where the .NET SDK is: a self-contained publish of
# tools/gpu-check (the CUDA tests' runner and the `circuits` command line, no libtorch) packed with run.sh into ONE
# folder, by default out/gpu-check/ (git-ignored):
#   run.sh  README.md  BUILD.txt (commit and date)  app.tar.xz (the program; run.sh unpacks it into app/)
# Step 2 is `out/gpu-check/run.sh` on the GPU host (see tools/gpu-check/README.md).
# Usage: tools/gpu-check/prepare.sh [--trim] [--no-pack] [OUTPUT_DIR]
#   --trim      trim the .NET runtime (TrimMode=partial): app.tar.xz of about 15 MB instead of 32 MB (100 MB unpacked).
#               The default is no trimming: nothing on the GPU host can then depend on what the trimmer kept.
#   --no-pack   leave the program unpacked in OUTPUT_DIR/app/ instead of packing it into app.tar.xz
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pack=1; trim=(); out=""
for a in "$@"; do
  case "$a" in
    --no-pack) pack=0 ;;
    --trim) trim=(-p:PublishTrimmed=true -p:TrimMode=partial) ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "prepare.sh: unknown option $a" >&2; exit 2 ;;
    *) out=$a ;;
  esac
done
out=${out:-$root/out/gpu-check}
case "$(cd "$(dirname "$out")" 2>/dev/null && pwd)/$(basename "$out")" in
  "$root"|"$root/"|/) echo "prepare.sh: refusing to use $out as the output folder" >&2; exit 2 ;;
esac

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)

# One build node (-m:1): the machine this runs on may be shared. The project leaves libtorch, the ONNX Runtime and
# SkiaSharp natives, the test platform's extras and the other programs' launchers out of the publish folder, and the
# engine's build targets patch libLibTorchSharp.so there (Debian 12 / Ubuntu 22.04 libstdc++).
dotnet publish "$root/tools/gpu-check/GpuCheck.csproj" -c Release -r linux-x64 --self-contained \
  "${trim[@]}" -m:1 -nologo -o "$out/app"

# What the bundle must (not) hold.
app=$out/app
[ -x "$app/gpu-check" ] || { echo "prepare.sh: $app/gpu-check is missing" >&2; exit 1; }
for f in circuits.dll Microsoft.ML.Circuits.Tests.dll TorchSharp.dll libLibTorchSharp.so data/mnist-10k/train-images-idx3-ubyte.gz; do
  [ -f "$app/$f" ] || { echo "prepare.sh: $app/$f is missing" >&2; exit 1; }
done
if found=$(find "$app" -name 'libtorch*.so' -o -name 'libc10*.so' | head -1) && [ -n "$found" ]; then
  echo "prepare.sh: the bundle must not carry libtorch (the host's PyTorch provides it), found $found" >&2; exit 1
fi
if ! readelf -V "$app/libLibTorchSharp.so" | grep 'Name: GLIBCXX_3.4.32' | grep -q 'Flags: WEAK'; then
  echo "prepare.sh: $app/libLibTorchSharp.so is not patched (GLIBCXX_3.4.32 is not weak)" >&2; exit 1
fi

cp "$root/tools/gpu-check/run.sh" "$root/tools/gpu-check/README.md" "$out/"
chmod +x "$out/run.sh"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$root" status --porcelain 2>/dev/null)" ] || commit="$commit with local changes"
echo "commit $commit, built $(date -u '+%Y-%m-%d %H:%M UTC'), .NET SDK $(dotnet --version)" > "$out/BUILD.txt"

if [ $pack = 1 ]; then
  tar -C "$app" -cJf "$out/app.tar.xz" .
  rm -rf "$app"
fi
echo
echo "GPU check bundle: $out ($(du -sh "$out" | cut -f1)): $(ls "$out" | tr '\n' ' ')"
echo "On the GPU host: $out/run.sh [LOG_DIR]     dry run here: $out/run.sh --device cpu --quick"
