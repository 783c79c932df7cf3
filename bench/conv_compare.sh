#!/usr/bin/env bash
# cuseg's CPU conv vs PyTorch CPU (and the OpenBLAS im2col candidate when it
# was built), same layers, same thread count, one invocation, run one after
# the other (never concurrently: they would share the cores).
#
# usage: bench/conv_compare.sh [BUILD_DIR] [--threads T] [--layers a,c] [--reps N]
#                              [--min-time S] [--quick]
#   BUILD_DIR defaults to build/ at the repository root. Options other than
#   --threads (default 2) go to all programs unchanged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build="$here/../build"
threads=2
pass=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --threads=*) threads="${1#*=}"; shift ;;
        --layers|--reps|--min-time) pass+=("$1" "$2"); shift 2 ;;
        --quick) pass+=("$1"); shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        -*) echo "conv_compare.sh: unknown option $1" >&2; exit 2 ;;
        *) build="$1"; shift ;;
    esac
done
bench="$build/bench/cuseg_conv_bench"
cand="$build/bench/cuseg_conv_candidates"
if [ ! -x "$bench" ]; then
    echo "conv_compare.sh: $bench not found; build first (cmake --build $build) or pass the build dir" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== cuseg_conv_bench ($threads threads)" >&2
"$bench" --json --threads "$threads" "${pass[@]}" >"$tmp/cuseg.jsonl"
echo "== conv_torch.py ($threads threads)" >&2
python3 "$here/conv_torch.py" --threads "$threads" "${pass[@]}" >"$tmp/torch.jsonl"
if [ -x "$cand" ]; then
    echo "== cuseg_conv_candidates: OpenBLAS im2col+sgemm ($threads threads)" >&2
    "$cand" --json --no-peak --threads "$threads" "${pass[@]}" >"$tmp/cand.jsonl"
fi

python3 - "$tmp" <<'PY'
import json, os, sys
tmp = sys.argv[1]
def load(name):
    p = os.path.join(tmp, name)
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
cuseg, torch, cand = load("cuseg.jsonl"), load("torch.jsonl"), load("cand.jsonl")
peak = next(r for r in cuseg if r["kind"] == "peak")
tinfo = next(r for r in torch if r["kind"] == "torch")
print(f"threads {peak['threads']}; measured fp32 FMA peak: AVX2 {peak['avx2_1t']:.1f} GFLOP/s x1, "
      f"{peak['avx2_nt']:.1f} x{peak['threads']}; AVX-512 {peak['avx512_1t']:.1f} x1, "
      f"{peak['avx512_nt']:.1f} x{peak['threads']} (peak used: {peak['isa']} {peak['peak_nt']:.1f})")
print(f"torch {tinfo['version']} (mkldnn {tinfo['mkldnn']}), {tinfo['threads']} threads")
ob = next((r for r in cand if r["kind"] == "openblas"), None)
if ob:
    print(f"OpenBLAS candidate: {ob['config']}; kernels for core {ob['core']}")
print()
tl = {}
for r in torch:
    if r["kind"] == "conv":
        tl.setdefault(r["layer"], {})[r["layout"]] = r["gflops"]
cb = {r["layer"]: r for r in cand if r["kind"] == "conv"}
head = "| layer | shape | cuseg GFLOP/s | % of peak | torch NCHW | torch channels_last | torch best | cuseg / torch best |"
sep = "|---|---|---:|---:|---:|---:|---:|---:|"
if cb:
    head += " OpenBLAS im2col GFLOP/s | OpenBLAS / cuseg |"
    sep += "---:|---:|"
print(head)
print(sep)
for r in cuseg:
    if r["kind"] != "conv":
        continue
    t = tl.get(r["layer"], {})
    best = max(t.values()) if t else float("nan")
    row = (f"| {r['layer']} | {r['shape']} | {r['gflops']:.1f} | " + (f"{100 * r['peak_frac']:.1f}%" if r["peak_frac"] is not None else "-") + " | "
           f"{t.get('nchw', float('nan')):.1f} | {t.get('channels_last', float('nan')):.1f} | {best:.1f} | "
           f"{r['gflops'] / best:.2f} |")
    if cb:
        c = cb.get(r["layer"])
        row += f" {c['gflops']:.1f} | {c['gflops'] / r['gflops']:.2f} |" if c else " - | - |"
    print(row)
PY
