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
    "$@" || echo "FAILED: $label"
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
    ;;
bench)
    log "bench: small networks (m=50, n=20, d=2, G=256) against the reference on every core"
    richlazy bench two-layer --device cuda --steps 20000 | tee -a "$OUT/bench.jsonl"
    log "bench: Figure-1b size, one seed's grid (G=289) and all 16 seeds' (G=4624)"
    for dtype in float64 float32; do
        for nets in 289 4624; do
            richlazy bench two-layer --device cuda --dtype $dtype --samples 1000 --dim 100 \
                --nets $nets --steps 200 --no-baseline | tee -a "$OUT/bench.jsonl"
        done
    done
    ;;
quick)
    log "quick fig1b on cuda against cpu"
    for device in cpu cuda; do
        timed "fig1b quick on $device" \
            python3 -m richlazy run fig1b --device $device --out "/tmp/quick-$device" >/dev/null
    done
    python3 - <<'PY'
import numpy as np, xarray as xr
cpu = xr.open_zarr("/tmp/quick-cpu/fig1b/results.zarr")
gpu = xr.open_zarr("/tmp/quick-cuda/fig1b/results.zarr")
for name in ("train_loss", "test_loss", "kernel_distance", "parameter_distance"):
    a, b = cpu[name].values, gpu[name].values
    scale = np.maximum(np.abs(a), 1e-12)
    print(f"{name}: max relative difference cuda vs cpu {np.nanmax(np.abs(a - b) / scale):.2e}")
print("hamming_distance equal:", bool(np.array_equal(cpu.hamming_distance.values,
                                                     gpu.hamming_distance.values)))
PY
    ;;
paper)
    steps=${PAPER_STEPS:-1000}
    log "paper fig1b grid on cuda, $steps steps instead of 1e6 (every other setting the paper's)"
    timed "fig1b paper grid, $steps steps, cuda" \
        python3 -m richlazy run fig1b --preset paper --device cuda --set steps=$steps \
        --out /tmp/paper >/dev/null
    cp /tmp/paper/fig1b/*.png /tmp/paper/fig1b/config.json "$OUT/" 2>/dev/null
    ;;
*) echo "unknown part $part"; exit 2 ;;
esac
done
