#!/usr/bin/env bash
# Every GPU check of the project in one command, for a short lease on a GPU machine (issues #3 and #8).
#
# Usage, from the repository root on the GPU machine (the package is used from src/, not installed):
#
#     OUT=results_dir SPARSENODE_SHARED_DATA=/path/to/shared/data bash benchmarks/gpu_session.sh [STAGES]
#
# STAGES (default "env tests grouplasso paper full scale") picks and orders the stages. Each stage runs under its
# own time limit and a failing stage does not stop the next one; logs and JSON results go to $OUT.
# Where anndata & co. are missing, wheels in .whl/ are installed into /tmp/site first.
set -u
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ! python3 -c "import anndata" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
STAGES=${*:-env tests grouplasso paper full scale}
log() { echo "=== $(date +%T) $*" | tee -a "$OUT/summary.txt"; }

for stage in $STAGES; do
    case $stage in
    env)
        log env
        { nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
          python3 -c "import sys, torch, torchdiffeq, anndata, numpy, pandas; print(sys.version.split()[0], 'torch', \
torch.__version__, 'torchdiffeq', torchdiffeq.__version__, 'anndata', anndata.__version__, 'numpy', \
numpy.__version__, 'pandas', pandas.__version__, 'cuda', torch.cuda.is_available())"
        } 2>&1 | tee -a "$OUT/summary.txt"
        ;;
    tests)
        log "pytest -m gpu"
        timeout 150 python3 -m pytest -p no:cacheprovider -m gpu -q -rA tests/test_speed.py tests/test_tl.py tests/test_accuracy.py tests/test_gpu_workflow.py \
            2>&1 | tee "$OUT/pytest_gpu.txt" | tail -25 | tee -a "$OUT/summary.txt"
        ;;
    grouplasso)
        for obj in gradient shooting; do
            log "grouplasso_speed $obj"
            timeout 80 python3 benchmarks/grouplasso_speed.py --device cuda --epochs $([ $obj = gradient ] && echo 20 || echo 3) --objective $obj 2>&1 \
                | tail -4 | tee -a "$OUT/summary.txt"
        done
        ;;
    paper)
        # 3,500 + 1,500 steps (the 5,000), then 3,500 + 500 (held-out MSE as good on the CPU, a fifth fewer steps)
        for refine in 1500 500; do
            log "paper_scale cuda rk4 3500+$refine"
            timeout 200 python3 benchmarks/paper_scale.py --device cuda --solver rk4 --steps 3500 \
                --refine-steps $refine --out "$OUT/paper_scale_cuda_r$refine.json" 2>&1 | tail -40 \
                | tee -a "$OUT/summary.txt"
        done
        ;;
    full)
        log "scale --full-fit cuda (2,000 genes x 100,000 cells)"
        timeout 150 python3 benchmarks/scale.py --full-fit --device cuda --out "$OUT/full_fit_cuda.json" 2>&1 \
            | tail -5 | tee -a "$OUT/summary.txt"
        ;;
    scale)
        log "scale sweep cuda"
        timeout 170 python3 benchmarks/scale.py --device cuda --epochs 200 --out "$OUT/scale_cuda.json" 2>&1 \
            | tail -30 | tee -a "$OUT/summary.txt"
        ;;
    *)
        log "unknown stage $stage"
        ;;
    esac
done
log done
