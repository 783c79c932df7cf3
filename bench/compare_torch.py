"""Whole-model inference, cuseg vs PyTorch (and ONNX Runtime), in one invocation.

For each model x batch the same architecture and input size run in every
implementation asked for, one after the other in this process, then
build/bench/cuseg-bench runs as a subprocess; the table gives each one's
median and the speed ratio X_ms / cuseg_ms (> 1 means cuseg is faster).

CPU implementations (--device cpu, all with --threads threads):
  torch    PyTorch eager fp32, channels_last, torch.no_grad
  compile  torch.compile (inductor) of the same channels_last model; compile
           time is reported separately and not in the median; "n/a" when it
           fails (the reason goes to stderr)
  ort      ONNX Runtime CPU: the PyTorch model exported with the TorchScript
           exporter (torch.onnx.export(dynamo=False), opset 17, dynamic
           batch), intra_op_num_threads = --threads, inter_op 1, sequential,
           all graph optimisations; NCHW numpy input, outputs back as numpy
GPU implementations (--device cuda; GPU 0):
  torch    eager, model and input cast to --precision (no autocast)
  autocast eager fp32 model under torch.autocast(dtype) (bf16/fp16 only)
  compile  torch.compile of the cast model
  A timed run is the same work as cuseg_session_run: the float32 input from
  host memory to the GPU, the model, every output back to host memory.
  cudnn.benchmark is on, so cuseg runs with --search too.

Weights: random on every side, and not the same weights across sides: dense
convolutions take the same time whatever the weights (no sparsity shortcuts
in oneDNN, MLAS or cuDNN). Only the PyTorch models of the cuseg zoo's
references are known here (torch_model below).

  python3 bench/compare_torch.py --models unet_bn,fcn8s --batch 1,4 --size 512x512
"""
import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "golden"))


def parse_spec(spec):
    """"arch:a=1+b=2" (cuseg-bench's model syntax) -> ("arch", {"a": "1", "b": "2"})."""
    arch, _, rest = spec.partition(":")
    opts = {}
    for kv in rest.replace(";", "+").split("+"):
        if kv:
            k, _, v = kv.partition("=")
            opts[k] = v
    return arch, opts


def torch_model(spec):
    """The PyTorch reference of a cuseg architecture (default options unless given)."""
    name, opts = parse_spec(spec)
    if name == "deeplabv3plus":  # jfzhang95 layout; rewritten in make_golden_deeplabjf.py
        from make_golden_deeplabjf import DeepLab
        known = {"backbone", "os", "classes"}
        if set(opts) - known:
            raise SystemExit(f"compare_torch.py: {spec}: only {sorted(known)} are mapped to PyTorch")
        return DeepLab(opts.get("backbone", "resnet101"), int(opts.get("os", 16)), int(opts.get("classes", 21)))
    if opts:
        raise SystemExit(f"compare_torch.py: {spec}: options are mapped to PyTorch for deeplabv3plus only")
    if name == "unet_bn":
        from make_golden_unet_bn import UNet
        return UNet(3, 2, False)
    if name == "smp_deeplabv3plus":
        import segmentation_models_pytorch as smp
        return smp.DeepLabV3Plus("resnet50", encoder_weights=None, classes=1)
    if name == "smp_unet":
        import segmentation_models_pytorch as smp
        return smp.Unet("resnet34", encoder_weights=None, classes=1)
    from torchvision.models import segmentation
    if name == "tv_deeplabv3":
        return segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    if name == "tv_fcn":
        return segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    from make_golden_vgg import FCN, DeepLabLargeFOV
    if name == "fcn8s":
        return FCN(8)
    if name == "deeplab_v1":
        return DeepLabLargeFOV()
    raise SystemExit(f"compare_torch.py: no PyTorch reference for {spec}")


def outputs(y):
    if isinstance(y, dict):
        return list(y.values())
    return list(y) if isinstance(y, (list, tuple)) else [y]


def time_fn(fn, iters, min_time, warmup=2):
    """(median, fastest) seconds of fn() after `warmup` calls: at least `iters` runs and `min_time` s."""
    for _ in range(warmup):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < iters or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def gpu_runner(model, x, dtype, autocast=False):
    def run():
        xin = x.to("cuda", non_blocking=False)
        if autocast:
            with torch.autocast("cuda", dtype=dtype):
                y = model(xin)
        else:
            y = model(xin.to(dtype))
        return [o.float().cpu() for o in outputs(y)]  # .cpu() synchronises
    return run


def ort_session(model, x, threads):
    """ONNX Runtime CPU session of `model` (exported once, dynamic batch)."""
    import onnxruntime as ort
    buf = io.BytesIO()
    model_nchw = model.to(memory_format=torch.contiguous_format)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model_nchw, (x.contiguous(),), buf, dynamo=False, opset_version=17, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}})
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])


class Interference:
    """Share of the machine's CPU time that OTHER processes used during a block
    (/proc/stat busy time minus this process's and its waited-for children's
    CPU time, over the wall time x cores). A shared machine's noise, measured
    rather than guessed from the load average; None where /proc is missing."""

    HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    @staticmethod
    def _machine():
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except OSError:
            return None
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v) - idle, sum(v)

    @staticmethod
    def _own():
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __enter__(self):
        self.m0, self.o0 = self._machine(), self._own()
        return self

    def __exit__(self, *exc):
        m1, o1 = self._machine(), self._own()
        self.share = None
        if self.m0 and m1 and m1[1] > self.m0[1]:
            busy = (m1[0] - self.m0[0]) / self.HZ
            total = (m1[1] - self.m0[1]) / self.HZ
            self.share = max(0.0, (busy - (o1 - self.o0)) / total)
        return False


def wait_idle(max_share, max_wait, what):
    """Waits until other processes use less than max_share of the CPU over a 2 s sample."""
    if max_share is None:
        return None
    start = time.time()
    while True:
        with Interference() as i:
            time.sleep(2)
        if i.share is None or i.share < max_share or time.time() - start > max_wait:
            if i.share is not None and i.share >= max_share:
                print(f"compare_torch.py: {what}: machine still busy ({100 * i.share:.0f}% of the CPU used by "
                      f"others) after {max_wait:.0f} s; timing anyway", file=sys.stderr)
            return i.share


def timed(measure, a, what):
    """measure() after wait_idle, repeated (up to --retry times) while other
    processes used more than --retry-busy of the CPU during it; returns the
    least disturbed result and its others' share."""
    best = None
    for attempt in range(1 + a.retry):
        wait_idle(a.wait_idle, a.wait_max, what)
        with Interference() as busy:
            result = measure()
        share = busy.share
        if best is None or (share or 0) < (best[1] or 0):
            best = (result, share)
        if share is None or share <= a.retry_busy:
            break
        print(f"compare_torch.py: {what}: others used {100 * share:.0f}% of the CPU"
              + (", timing again" if attempt < a.retry else ", keeping the least disturbed run"), file=sys.stderr)
    return best


def short(e):
    return (type(e).__name__ + ": " + str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)[:200]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="unet_bn,fcn8s,deeplab_v1,deeplabv3plus:backbone=resnet50",
                    help="cuseg-bench model specs, comma-separated")
    ap.add_argument("--batch", default="1,4")
    ap.add_argument("--size", default="512x512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=5.0)
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16", "fp16"])
    ap.add_argument("--impls", default=None,
                    help="comma-separated; CPU: torch,compile,ort (default all); GPU: torch,autocast,compile "
                         "(default torch,autocast)")
    ap.add_argument("--json-out", default=None, help="also append the JSON lines to this file")
    ap.add_argument("--wait-idle", type=float, default=None, metavar="SHARE",
                    help="before each timing, wait until other processes use less than SHARE (e.g. 0.1) of the "
                         "CPU (for shared machines; at most --wait-max seconds)")
    ap.add_argument("--wait-max", type=float, default=900)
    ap.add_argument("--retry", type=int, default=0, metavar="N",
                    help="time again, up to N times, when other processes used more than --retry-busy of the CPU")
    ap.add_argument("--retry-busy", type=float, default=0.05, metavar="SHARE")
    ap.add_argument("--stat", default="median", choices=["median", "min"],
                    help="the statistic of the table (both are in the JSON): min is the more robust one on a "
                         "machine that other work disturbs, since disturbance only ever adds time")
    ap.add_argument("--table-from", default=None, metavar="JSONL",
                    help="print the table of recorded JSON lines (--json-out files, comma-separated) and exit; "
                         "where a configuration was timed more than once, each implementation's figure is "
                         "taken from the run in which other processes used the least CPU")
    a = ap.parse_args()
    if a.table_from:
        rows = [json.loads(line) for f in a.table_from.split(",") for line in open(f) if line.strip()]
        impls = [i for i in ("torch", "autocast", "compile", "ort") if any(f"{i}_ms" in r for r in rows)]
        print_table(merge_least_disturbed(rows, impls), impls, a.stat)
        return
    torch.set_num_threads(a.threads)
    gpu = a.device == "cuda"
    impls = (a.impls or ("torch,autocast" if gpu else "torch,compile,ort")).split(",")
    known = {"torch", "autocast", "compile"} | (set() if gpu else {"ort"})
    if set(impls) - known:
        raise SystemExit(f"compare_torch.py: unknown implementation(s) {sorted(set(impls) - known)} for {a.device}")
    if gpu and a.precision in ("fp32", "tf32") and "autocast" in impls:
        impls.remove("autocast")  # autocast is a 16-bit mode
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision, torch.float32)
    if gpu:
        torch.backends.cudnn.benchmark = True
        tf32 = a.precision == "tf32"
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    h, w = map(int, a.size.split("x"))
    bench = Path(a.build) / "bench" / "cuseg-bench"
    jout = open(a.json_out, "a") if a.json_out else None
    rows = []
    for spec in a.models.split(","):
        torch.manual_seed(0)
        base = torch_model(spec).eval()
        ort_sess = None
        for n in map(int, a.batch.split(",")):
            load0 = os.getloadavg()[0]
            x = torch.rand(n, 3, h, w)
            ms, ms_min, notes, others = {}, {}, {}, {}
            for impl in impls:
                try:
                    t0 = time.perf_counter()
                    if gpu:
                        if impl == "autocast":
                            model = base.to("cuda", torch.float32, memory_format=torch.channels_last)
                        else:
                            model = base.to("cuda", dtype, memory_format=torch.channels_last)
                        if impl == "compile":
                            model = torch.compile(model)
                        fn = gpu_runner(model, x.contiguous(memory_format=torch.channels_last), dtype,
                                        autocast=impl == "autocast")
                    elif impl == "ort":
                        if ort_sess is None:
                            ort_sess = ort_session(base, x, a.threads)
                        xn = x.contiguous().numpy()
                        fn = lambda: ort_sess.run(None, {"x": xn})  # noqa: E731
                    else:
                        model = base.to(memory_format=torch.channels_last)
                        if impl == "compile":
                            torch._dynamo.reset()
                            model = torch.compile(model)
                        xc = x.contiguous(memory_format=torch.channels_last)
                        fn = lambda: model(xc)  # noqa: E731
                    with torch.no_grad():
                        fn()  # first call: compilation, export, allocations
                        setup = time.perf_counter() - t0
                        def timing():
                            med, fastest = time_fn(fn, a.iters, a.min_time, warmup=1)
                            return med * 1e3, fastest * 1e3
                        (ms[impl], ms_min[impl]), others[impl] = timed(timing, a, f"{spec} batch {n} {impl}")
                    if impl == "compile":
                        notes["compile_s"] = round(setup, 1)
                except Exception as e:  # a failing variant is "n/a", not the end of the run
                    print(f"compare_torch.py: {spec} batch {n}: {impl} failed: {short(e)}", file=sys.stderr)
                    ms[impl] = ms_min[impl] = None
            cmd = [str(bench), "--model", spec, "--batch", str(n), "--size", a.size, "--threads",
                   str(a.threads), "--iters", str(a.iters), "--min-time", str(a.min_time), "--json"]
            if gpu:
                cmd += ["--device", "cuda:0", "--precision", a.precision, "--search"]
            def cuseg_timing():
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                return json.loads(out.stdout.strip().splitlines()[-1])
            try:
                r, others["cuseg"] = timed(cuseg_timing, a, f"{spec} batch {n} cuseg")
            except subprocess.CalledProcessError as e:
                print(f"compare_torch.py: {spec} batch {n}: cuseg-bench failed: {e.stderr.strip()}", file=sys.stderr)
                continue
            c, c_min = r["median_ms"], r.get("min_ms", r["median_ms"])
            load1 = os.getloadavg()[0]
            rec = {"model": spec, "batch": n, "size": a.size, "threads": a.threads, "device": a.device,
                   "precision": a.precision, "cuseg_ms": round(c, 2), "cuseg_min_ms": round(c_min, 2), "cuseg_gmac_per_s": r["gmac_per_s"],
                   "cuseg_peak_frac": r["peak_frac"], "cuseg_peak_rss_mb": round(r["peak_rss_kb"] / 1024, 1),
                   "load_before": round(load0, 2), "load_after": round(load1, 2),
                   "others_cpu": {k: None if v is None else round(v, 3) for k, v in others.items()}, **notes}
            for impl in impls:
                rec[f"{impl}_ms"] = None if ms[impl] is None else round(ms[impl], 2)
                rec[f"{impl}_ratio"] = None if ms[impl] is None else round(ms[impl] / c, 3)
                rec[f"{impl}_min_ms"] = None if ms[impl] is None else round(ms_min[impl], 2)
                rec[f"{impl}_min_ratio"] = None if ms[impl] is None else round(ms_min[impl] / c_min, 3)
            line = json.dumps(rec)
            print(line, flush=True)
            if jout:
                jout.write(line + "\n")
                jout.flush()
            rows.append(rec)
    where = f"{a.threads} threads"
    if gpu:
        try:
            where = torch.cuda.get_device_name(0)
        except RuntimeError as e:
            where = f"no GPU ({short(e)})"
    extra = f", onnxruntime {__import__('onnxruntime').__version__}" if "ort" in impls else ""
    print(f"\ntorch {torch.__version__}{extra}, {where}, {a.precision}, {a.stat} of the runs; "
          "ratio = X ms / cuseg ms (> 1: cuseg faster)\n")
    print_table(rows, impls, a.stat)


def merge_least_disturbed(rows, impls):
    """One row per (model, batch, size): for cuseg and for each implementation,
    the record whose timing other processes disturbed least; ratios recomputed."""
    def share(r, impl):
        v = r.get("others_cpu", {}).get(impl)
        return 1.0 if v is None else v
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["batch"], r["size"]), []).append(r)
    merged = []
    for recs in groups.values():
        best = min(recs, key=lambda r: share(r, "cuseg"))
        out = {k: v for k, v in best.items() if not any(k.startswith(i + "_") for i in impls)}
        out["others_cpu"] = {"cuseg": best.get("others_cpu", {}).get("cuseg")}
        c, c_min = best["cuseg_ms"], best.get("cuseg_min_ms", best["cuseg_ms"])
        for i in impls:
            cand = [r for r in recs if r.get(f"{i}_ms") is not None]
            if not cand:
                out[f"{i}_ms"] = None
                continue
            r = min(cand, key=lambda r: share(r, i))
            out[f"{i}_ms"], out[f"{i}_ratio"] = r[f"{i}_ms"], round(r[f"{i}_ms"] / c, 3)
            m = r.get(f"{i}_min_ms")
            out[f"{i}_min_ms"] = m
            out[f"{i}_min_ratio"] = None if m is None else round(m / c_min, 3)
            out["others_cpu"][i] = r.get("others_cpu", {}).get(i)
        merged.append(out)
    return merged


def print_table(rows, impls, stat):
    """Markdown table of JSON records (this run's, or a --table-from file's)."""
    names = {"torch": "PyTorch", "compile": "torch.compile", "ort": "ONNX Runtime", "autocast": "PyTorch autocast"}
    sfx = "_min" if stat == "min" else ""
    head = "| model | batch | input | cuseg ms |" + "".join(f" {names[i]} ms | ratio |" for i in impls)
    head += " cuseg GMAC/s | % of FMA peak | others' CPU |"
    print(head)
    print("|---|---:|---|---:|" + "---:|---:|" * len(impls) + "---:|---:|---|")
    for r in rows:
        cells = ""
        for i in impls:
            v = r.get(f"{i}{sfx}_ms")
            cells += " n/a | n/a |" if v is None or r.get(f"{i}{sfx}_ratio") is None else \
                f" {v:.2f} | {r[f'{i}{sfx}_ratio']:.2f} |"
        pct = f"{100 * r['cuseg_peak_frac']:.1f}%" if r["cuseg_peak_frac"] >= 0 else "-"
        shares = [v for v in r.get("others_cpu", {}).values() if v is not None]
        busy = f"{100 * max(shares):.0f}%" if shares else "-"
        print(f"| {r['model']} | {r['batch']} | {r['size']} | {r.get('cuseg' + sfx + '_ms', r['cuseg_ms']):.2f} |"
              f"{cells} {r['cuseg_gmac_per_s']:.1f} | {pct} | {busy} |")

if __name__ == "__main__":
    main()
