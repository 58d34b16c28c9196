#!/usr/bin/env bash
# One-GPU reference run, under 9 minutes: the quick sweep and its figures, the generation,
# ceiling and paper-throughput benchmarks at GPU sizes, then whether a trial gives the same bits
# twice (PPO on CartPole-v1 in fresh processes, with XLA's default, deterministic and no-autotune
# flags). Everything goes under results/reference/gpu/<device-name-slug>/, with device.txt naming
# the device (nvidia-smi and jax.devices()) and the library versions the numbers came from.
#
#   bash benchmarks/gpu_check.sh                 # from the repository root, the project installed
#   bash benchmarks/gpu_check.sh --allow-cpu     # run anyway without a GPU (CPU timings, slow)
#   bash benchmarks/gpu_check.sh --out-root DIR  # instead of results/reference/gpu
#
# Each step has its own time limit (together 8 min 55 s) so the whole check stays under 9 minutes
# even when a step is slower than expected; a step that hits its limit is reported, the others
# still run, and the script exits non-zero. The sweep resumes where it stopped if run again.
set -uo pipefail

allow_cpu=0
out_root="results/reference/gpu"
while [ $# -gt 0 ]; do
    case "$1" in
        --allow-cpu) allow_cpu=1 ;;
        --out-root) out_root="${2:?--out-root needs a directory}"; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check.sh: unknown option '$1'; allowed: --allow-cpu, --out-root DIR" >&2; exit 2 ;;
    esac
    shift
done

PY="${PYTHON:-python}"
if command -v eggroll-bench >/dev/null 2>&1; then BENCH=(eggroll-bench); else BENCH=("$PY" -m eggroll_bench.cli); fi

backend=$("$PY" -c "import jax; print(jax.default_backend())" 2>/dev/null) || {
    echo "gpu_check.sh: cannot import jax with '$PY'; activate the project's virtualenv (pip install -e .)" >&2; exit 2; }
if [ "$backend" != "gpu" ] && [ "$allow_cpu" -eq 0 ]; then
    echo "gpu_check.sh: no GPU visible to JAX (backend: $backend)." >&2
    echo "  Install a CUDA jaxlib (pip install -U 'jax[cuda12]') on a machine with an NVIDIA GPU, or pass" >&2
    echo "  --allow-cpu to run the same steps on the CPU (slow; not a GPU reference)." >&2
    exit 3
fi

if [ "$backend" = "gpu" ] && command -v nvidia-smi >/dev/null 2>&1; then
    device_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
else
    device_name=$("$PY" -c "import jax; d = jax.devices()[0]; print(d.device_kind if d.platform != 'cpu' else 'cpu')")
fi
slug=$(printf '%s' "$device_name" | tr '[:upper:]' '[:lower:]' | sed -e 's/[^a-z0-9]\{1,\}/-/g' -e 's/^-//' -e 's/-$//')
out="$out_root/${slug:-unknown-device}"
mkdir -p "$out" || { echo "gpu_check.sh: cannot create $out" >&2; exit 2; }

{
    echo "device: $device_name"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (uncommitted changes)')"
    if command -v nvidia-smi >/dev/null 2>&1; then
        echo "--- nvidia-smi"
        nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1
    fi
    echo "--- jax"
    "$PY" - <<'EOF'
import importlib.metadata as md
import platform

import jax

print("jax.devices():", jax.devices())
print("python", platform.python_version())
for name in ("jax", "jaxlib", "jax-cuda12-plugin", "flax", "optax", "gymnax", "brax", "jaxmarl", "numpy", "matplotlib"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        pass
EOF
} > "$out/device.txt" 2>&1
echo "gpu_check.sh: $device_name -> $out"

failed=()
step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "=== $name (limit ${limit}s): $*"
    local start=$SECONDS
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$out/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc after $((SECONDS - start)) s"
    [ "$rc" -eq 0 ] || failed+=("$name (exit $rc$([ "$rc" -eq 124 ] && echo ', time limit'))")
}

# Four trial processes share the one GPU (without JAX's pre-allocation): compiling is most of the
# quick job and runs on the host's cores, one trial at a time would leave them idle. Deterministic
# kernels, so that a rerun gives the same returns (without them XLA's autotuner picks kernels per
# process and they differ: docs/gpu.md); the benchmarks below time XLA's default kernels.
step sweep 140 env XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_deterministic_ops=true" \
    "${BENCH[@]}" sweep sweeps/quick.toml --out "$out/quick" --workers 4
step plot 40 "${BENCH[@]}" plot "$out/quick" --out "$out/quick/figures"
step generation 75 "${BENCH[@]}" bench generation --out "$out" --envs CartPole-v1 --widths 1024 --pops 4096 \
    --ranks 1 --horizon 256 --repeats 3
step ceiling 90 "${BENCH[@]}" bench ceiling --out "$out" --envs CartPole-v1 --sizes 4096x1024 \
    --horizon 256 --repeats 3
step paper-throughput 60 "${BENCH[@]}" bench paper-throughput --out "$out" --width 8192 --repeats 3
# The quick sweep's PPO CartPole cell (its evaluation settings and budget), 2 runs per flag setting.
step determinism 130 "${BENCH[@]}" bench determinism --out "$out" --steps 500000 --set eval_every=5 eval_episodes=32

echo "gpu_check.sh: wrote CSVs, figures and logs under $out (device: $device_name)"
if [ ${#failed[@]} -gt 0 ]; then
    printf 'gpu_check.sh: failed steps: %s\n' "${failed[*]}" >&2
    exit 1
fi
