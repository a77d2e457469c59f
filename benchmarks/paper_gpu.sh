#!/usr/bin/env bash
# The paper setting on a machine with a CUDA GPU, in under 8 minutes:
#   1. pre-training throughput of ResNet-18 (SimCLR, 3×32×32, the paper profile's batch of
#      512): images/s and peak GPU memory (benchmarks/paper_throughput.py);
#   2. every chapter in the papersmoke profile on CUDA, on stand-in files written in each
#      dataset's own on-disk format (sslsec.standin), with a fresh encoder cache;
#   3. a short report, OUT/report.md.
# Usage (after `make venv`):  bash benchmarks/paper_gpu.sh [OUT]    (OUT: _build/paper_gpu)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=${PY:-.venv/bin/python}
OUT=${1:-_build/paper_gpu}
rm -rf "$OUT" && mkdir -p "$OUT"
begun=$(date +%s)

if ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "no CUDA GPU here: this script measures the paper setting on a GPU" >&2
    exit 2
fi
gpu=$("$PY" -c "import torch; p = torch.cuda.get_device_properties(0); \
print(f'{p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}')")

echo "== 1. pre-training throughput ($gpu)"
timeout 150 "$PY" benchmarks/paper_throughput.py --device cuda --json "$OUT/throughput.json" \
    | tee "$OUT/throughput.txt"
bench_rc=${PIPESTATUS[0]}

echo "== 2. every chapter, papersmoke profile, on CUDA"
"$PY" -c "from sslsec.standin import write_standins; write_standins('$OUT/standin')"
SSLSEC_DATA="$OUT/standin" SSLSEC_CACHE="$OUT/cache" SSLSEC_PROGRESS=0 \
    timeout 330 "$PY" -m sslsec run all --profile papersmoke --device cuda 2>&1 \
    | tee "$OUT/papersmoke.txt"
chapters_rc=${PIPESTATUS[0]}

seconds=$(( $(date +%s) - begun ))
{
    echo "# The paper setting on a GPU ($(date -u +%Y-%m-%d))"
    echo
    echo "- GPU: $gpu"
    echo "- throughput (exit $bench_rc): $(tail -n 1 "$OUT/throughput.txt")"
    echo "- papersmoke, every chapter on CUDA (exit $chapters_rc; table below)"
    echo "- this script: $seconds s"
    echo
    echo '```'
    grep -A 20 '^chapter' "$OUT/papersmoke.txt" || tail -n 20 "$OUT/papersmoke.txt"
    echo '```'
} > "$OUT/report.md"
cat "$OUT/report.md"
[ "$bench_rc" -eq 0 ] && [ "$chapters_rc" -eq 0 ]
