#!/usr/bin/env bash
# The checks and timings this project runs on a lent NVIDIA GPU, in one command, from the
# repository root (docs/performance.md records the results). Packages the GPU machine lacks
# travel as wheels in .whl/ (zarr and its codecs); the package itself runs from src/.
#   bash bench/gpu_session.sh [part...]     parts: env tests bench quick paper (default: all)
set -uo pipefail
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-session}
mkdir -p "$OUT"
richlazy() { python3 -m richlazy "$@"; }
parts=${*:-env tests bench quick paper}
log() { echo; echo "=== $* ($(date +%T))"; }
timed() {  # timed LABEL COMMAND...: run it, print LABEL: seconds
    local label=$1 start; shift
    start=$(date +%s%3N)
    "$@" >/tmp/timed.log 2>&1 || { echo "FAILED: $label"; tail -20 /tmp/timed.log; }
    echo "$label: $(( $(date +%s%3N) - start )) ms"
}

for part in $parts; do
case $part in
env)
    log env
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c 'import torch, numpy, xarray, zarr; print("torch", torch.__version__,
        "cuda", torch.version.cuda, torch.cuda.get_device_name(), "numpy", numpy.__version__,
        "xarray", xarray.__version__, "zarr", zarr.__version__)'
    ;;
tests)
    log "tests: the CUDA cases of the device-parametrized tests"
    python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_train.py tests/test_metrics.py
    python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_fused.py
    ;;
bench)
    log "bench: small networks (m=50, n=20, d=2, G=256) against the reference on every core"
    for fuse in --no-fuse --fuse; do
        richlazy bench two-layer --device cuda --steps 20000 $fuse | tee -a "$OUT/bench.jsonl"
    done
    log "bench: Figure-1b size, one seed's grid (G=289) and all 16 seeds' (G=4624)"
    for dtype in float64 float32; do
        for nets in 289 4624; do
            for fuse in --no-fuse --fuse; do
                richlazy bench two-layer --device cuda --dtype $dtype --samples 1000 \
                    --dim 100 --nets $nets --steps 200 --no-baseline $fuse \
                    | tee -a "$OUT/bench.jsonl"
            done
        done
    done
    ;;
quick)
    log "quick fig1b on cuda against cpu"
    for device in cpu cuda; do
        timed "fig1b quick on $device" \
            python3 -m richlazy run fig1b --device $device --out "/tmp/quick-$device"
    done
    python3 - <<'PY'
import numpy as np, xarray as xr
cpu = xr.open_zarr("/tmp/quick-cpu/fig1b/results.zarr")
gpu = xr.open_zarr("/tmp/quick-cuda/fig1b/results.zarr")
for name in ("train_loss", "test_loss", "kernel_distance", "parameter_distance"):
    a, b = cpu[name].values, gpu[name].values
    print(f"{name}: cuda vs cpu max |difference| {np.nanmax(np.abs(a - b)):.2e}, relative to "
          f"max(|value|, 1e-6): {np.nanmax(np.abs(a - b) / np.maximum(np.abs(a), 1e-6)):.2e}")
a, b = cpu.hamming_distance.values, gpu.hamming_distance.values
print(f"hamming_distance: {int((a != b).sum())} of {a.size} entries differ, max |difference| "
      f"{np.nanmax(np.abs(a - b)):.3f} neurons ")
PY
    ;;
paper)
    for steps in ${PAPER_STEPS:-1000}; do
        log "paper fig1b grid on cuda, $steps steps instead of 1e6 (every other setting the paper's)"
        timed "fig1b paper grid, $steps steps, cuda" \
            python3 -m richlazy run fig1b --preset paper --device cuda --set steps=$steps \
            --out "/tmp/paper-$steps"
        cp "/tmp/paper-$steps/fig1b/fig1b.png" "$OUT/paper-$steps.png" 2>/dev/null
    done
    ;;
*) echo "unknown part $part"; exit 2 ;;
esac
done
