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
  torch    eager, model and input cast to --precision (no autocast), channels_last
  autocast eager fp32 model under torch.autocast(dtype) (bf16/fp16 only)
  compile  torch.compile of the cast model (opt in)
  ort      ONNX Runtime, CUDA execution provider (onnxruntime-gpu; skipped
           with a message when the provider is missing, and for bf16, which
           its CUDA convolutions do not take), model exported in the
           precision's dtype, cuDNN exhaustive search, TF32 only for tf32,
           no CPU fallback for any node
  trt      ONNX Runtime's TensorRT execution provider (opt in: building its
           engines takes minutes; skipped when the provider is missing)
  Every GPU implementation is timed twice, so that each cuseg figure has a
  peer of the same definition:
  host-to-host  (columns "ms")  the float32 input in host memory, the model,
           every output back in host memory, host clock: what
           cuseg_session_run does (cuseg-bench's median_ms)
  device-resident (columns "dev ms")  the input already on the GPU in the
           model's dtype and layout, outputs left there; CUDA events on the
           stream around each run, runs back to back in chunks of 8
           (cuseg-bench's resident_ms; ONNX Runtime through io binding on a
           stream of ours)
  cudnn.benchmark is on, so cuseg runs with --search too.

Weights: the same on every side. Each model is built in PyTorch with a fixed
seed, He-initialised, its batch norms given random affine parameters and
statistics measured on random inputs (so that activations stay O(1) in
every precision), exported to a cuseg model file with
tests/golden/convert_state_dict.py and loaded by cuseg-bench --weights;
ONNX Runtime runs the export of the same module. --check first runs a small
input (--check-size) through PyTorch (float32, CPU) and through cuseg
(cuseg-bench --check, on --device in --precision) and prints the largest
difference of the logits. --weights random gives cuseg its own random
weights instead (timings do not depend on them).
Only the PyTorch models of the cuseg zoo's references are known here
(torch_model below).

  python3 bench/compare_torch.py --models unet_bn,fcn8s --batch 1,4 --size 512x512
  python3 bench/compare_torch.py --check-only --check-size 1x65x97
"""
import argparse
import copy
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "golden"))


def _save_file(tensors, path, metadata=None):
    """safetensors.torch.save_file for float32 tensors, for machines without
    the safetensors package (a GPU machine's stock PyTorch image): an 8-byte
    little-endian header size, the JSON header padded with spaces to a
    multiple of 8, then the tensors' bytes in header order."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        data = t.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in blobs:
            f.write(b)


try:
    from safetensors.torch import save_file
except ImportError:  # convert_state_dict.py imports it: give it the writer above
    import types
    save_file = _save_file
    _shim = types.ModuleType("safetensors")
    _shim.torch = types.ModuleType("safetensors.torch")
    _shim.torch.save_file = _save_file
    sys.modules.setdefault("safetensors", _shim)
    sys.modules.setdefault("safetensors.torch", _shim.torch)


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


def init_weights(model, seed):
    """He-normal convolutions, small random biases, random batch-norm affine
    parameters and running statistics measured on random inputs (as the
    goldens do, tests/golden/make_golden_deeplabjf.py): activations stay O(1)
    through deep residual stacks, so 16-bit runs neither overflow nor
    underflow and the logits check compares numbers of a sensible size."""
    g = torch.Generator().manual_seed(seed)
    bns = []
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel() if isinstance(m, torch.nn.Conv2d) else \
                    m.weight.shape[0] * m.weight[0, 0].numel() // max(1, m.stride[0] * m.stride[1])
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.2 - 0.1)
            elif isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batch
                bns.append(m)
    if bns:
        model.train()
        with torch.no_grad():
            model(torch.rand(2, 3, 64, 64, generator=g))
        with torch.no_grad():
            for m in bns:
                m.running_var += 0.1  # keeps near-constant channels from amplifying rounding
                m.momentum = 0.1
    model.eval()


def export_weights(model, spec, directory):
    """The module's state dict as a cuseg model file (convert_state_dict.py) for cuseg-bench --weights."""
    from convert_state_dict import to_cuseg
    arch, opts = parse_spec(spec)
    path = os.path.join(directory, "".join(ch if ch.isalnum() else "_" for ch in spec) + ".safetensors")
    to_cuseg(model.state_dict(), arch, ",".join(f"{k}={v}" for k, v in opts.items()), path)
    return path


def check_logits(model, spec, weights, a, directory):
    """PyTorch (float32, CPU) and cuseg on the same small random input with the
    same weights: cuseg-bench --check's verdict as a dict (None when it could
    not run; the reason goes to stderr)."""
    n, h, w = map(int, a.check_size.split("x"))
    x = torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(1))
    m = model.to("cpu", torch.float32, memory_format=torch.contiguous_format).eval()
    with torch.no_grad():
        ys = outputs(m(x))
    nhwc = lambda t: t.detach().float().permute(0, 2, 3, 1).contiguous()  # noqa: E731
    io_path = os.path.join(directory, "check.io.safetensors")
    save_file({"input": nhwc(x), **{f"output.{i}": nhwc(y) for i, y in enumerate(ys)}}, io_path)
    cmd = [str(Path(a.build) / "bench" / "cuseg-bench"), "--model", spec, "--weights", weights, "--check", io_path,
           "--threads", str(a.threads), "--json"]
    if a.device == "cuda":
        cmd += ["--device", "cuda:0", "--precision", a.precision]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        print(f"compare_torch.py: {spec}: cannot run cuseg-bench: {e}", file=sys.stderr)
        return None
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    if not lines:
        print(f"compare_torch.py: {spec}: cuseg-bench --check failed: {r.stderr.strip()}", file=sys.stderr)
        return None
    res = json.loads(lines[-1])
    for o in res["outputs"]:
        print(f"check {spec} ({res['device']}, {res['precision']}) input {res['input']} {o['name']} {o['shape']}: "
              f"max |cuseg - torch| {o['max_abs_diff']:.3g} (max |torch| {o['max_abs_ref']:.3g}), "
              f"L2 relative {o['rel_l2']:.3g}, tolerance {res['tol']:g}: {'OK' if o['pass'] else 'FAIL'}", flush=True)
    return res


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


def time_cuda_events(fn, iters, min_time, warmup=2, chunk=8):
    """(median, fastest) seconds per fn() by CUDA events on the current stream:
    runs back to back in chunks of `chunk`, an event before the first and
    after each, one synchronisation per chunk (cuseg-bench's resident timing
    does the same). At least `iters` runs and `min_time` seconds."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times, start = [], time.perf_counter()
    while len(times) < iters or time.perf_counter() - start < min_time:
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(chunk + 1)]
        ev[0].record()
        for k in range(chunk):
            fn()
            ev[k + 1].record()
        ev[-1].synchronize()
        times += [ev[k].elapsed_time(ev[k + 1]) * 1e-3 for k in range(chunk)]
    return statistics.median(times), min(times)


def gpu_runner(model, x, dtype, autocast=False):
    """Host to host: float32 host input in, every output back in host memory as float32."""
    def run():
        xin = x.to("cuda", non_blocking=False)
        if autocast:
            with torch.autocast("cuda", dtype=dtype):
                y = model(xin)
        else:
            y = model(xin.to(dtype))
        return [o.float().cpu() for o in outputs(y)]  # .cpu() synchronises
    return run


def gpu_resident_runner(model, x, dtype, autocast=False):
    """Device-resident: the input already on the GPU (the model's dtype,
    channels_last), the outputs left there as the model returns them."""
    xd = x.to("cuda", torch.float32 if autocast else dtype).contiguous(memory_format=torch.channels_last)
    def run():
        if autocast:
            with torch.autocast("cuda", dtype=dtype):
                return model(xd)
        return model(xd)
    return run


class Unavailable(Exception):
    """An implementation that cannot run here (missing provider, unsupported precision)."""


class OrtGpu:
    """ONNX Runtime on GPU 0 through the CUDA (or TensorRT) execution
    provider, on a CUDA stream of ours (user_compute_stream) so that events
    recorded on it bracket ONNX Runtime's kernels. h2h(): numpy float input
    in, numpy outputs out (sess.run). resident(): io binding, the NCHW input
    on the GPU and preallocated device outputs, nothing crosses to the host."""

    def __init__(self, model, x, precision, provider):
        import onnxruntime as ort
        name = {"ort": "CUDAExecutionProvider", "trt": "TensorrtExecutionProvider"}[provider]
        if name not in ort.get_available_providers():
            raise Unavailable(f"onnxruntime {ort.__version__} has no {name} (providers: "
                              f"{', '.join(ort.get_available_providers())}; onnxruntime-gpu is needed)")
        if provider == "ort" and precision == "bf16":
            raise Unavailable("the CUDA execution provider has no bf16 convolution (its Conv takes float, "
                              "double and float16); ONNX Runtime's 16-bit figure is --precision fp16")
        # TensorRT takes the float32 model and lowers precision itself; CUDA EP runs the exported dtype.
        self.dtype = torch.float16 if precision == "fp16" and provider == "ort" else torch.float32
        m = copy.deepcopy(model).to("cuda", self.dtype, memory_format=torch.contiguous_format).eval()
        xe = x[:1].to("cuda", self.dtype).contiguous()
        buf = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, (xe,), buf, dynamo=False, opset_version=17, input_names=["x"],
                              dynamic_axes={"x": {0: "n"}})
        del m
        self.stream = torch.cuda.Stream()
        opts = {"device_id": "0", "user_compute_stream": str(self.stream.cuda_stream)}
        if provider == "ort":
            opts.update(cudnn_conv_algo_search="EXHAUSTIVE", use_tf32="1" if precision == "tf32" else "0")
        elif precision == "fp16":
            opts["trt_fp16_enable"] = "True"
        elif precision == "bf16":
            opts["trt_bf16_enable"] = "True"
        for strict in (True, False):
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if strict:  # every node on the GPU provider, or an error
                so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
            try:
                self.sess = ort.InferenceSession(buf.getvalue(), so, providers=[(name, opts)])
                break
            except Exception as e:
                if not strict:
                    raise
                print(f"compare_torch.py: {provider}: {short(e)}; trying again with ONNX Runtime's CPU fallback "
                      "allowed (nodes it places on the CPU, usually shape computations, are in the timing)",
                      file=sys.stderr)
        self.x_host = x.to(self.dtype).contiguous().numpy()
        self.x_dev = x.to("cuda", self.dtype).contiguous()
        torch.cuda.synchronize()  # written on PyTorch's stream, read on ours
        self.out_names = [o.name for o in self.sess.get_outputs()]
        self.binding = self.sess.io_binding()
        np_dtype = self.x_host.dtype.type  # numpy.float32 / numpy.float16, as bind_input takes it
        self.binding.bind_input("x", "cuda", 0, np_dtype, list(self.x_dev.shape), self.x_dev.data_ptr())
        for o in self.out_names:
            self.binding.bind_output(o, "cuda", 0)
        self.sess.run_with_iobinding(self.binding)  # ONNX Runtime allocates: learn the shapes
        shapes = [v.shape() for v in self.binding.get_outputs()]
        self.y_dev = [torch.empty(sh, dtype=self.dtype, device="cuda") for sh in shapes]
        self.binding.clear_binding_outputs()
        for o, y in zip(self.out_names, self.y_dev):
            self.binding.bind_output(o, "cuda", 0, np_dtype, list(y.shape), y.data_ptr())
        # By default Run() ends with cudaStreamSynchronize, so each run's events
        # would also hold the host's time between runs; cuseg and PyTorch only
        # enqueue. Without it the runs queue back to back on our stream too
        # (ORT >= 1.14; the caller's event synchronisation waits for them).
        self.run_opts = ort.RunOptions()
        self.run_opts.add_run_config_entry("disable_synchronize_execution_providers", "1")

    def h2h(self):
        return self.sess.run(None, {"x": self.x_host})

    def resident(self):
        self.sess.run_with_iobinding(self.binding, self.run_opts)


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
                    help="comma-separated; CPU: torch,compile,ort (default all); GPU: torch,autocast,compile,ort,"
                         "trt (default torch,autocast,ort)")
    ap.add_argument("--weights", default="same", choices=["same", "random"],
                    help="same: cuseg loads the PyTorch model's weights (exported with convert_state_dict.py); "
                         "random: cuseg-bench's own random weights")
    ap.add_argument("--check", action="store_true",
                    help="before timing a model, compare cuseg's logits with PyTorch's (float32 CPU) on a "
                         "--check-size input with the same weights; the exit status is 1 if any check fails")
    ap.add_argument("--check-only", action="store_true", help="--check, and no timing")
    ap.add_argument("--check-size", default="2x65x97", metavar="NxHxW")
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
        impls = [i for i in ("torch", "autocast", "compile", "ort", "trt") if any(f"{i}_ms" in r for r in rows)]
        print_table(merge_least_disturbed(rows, impls), impls, a.stat)
        return
    torch.set_num_threads(a.threads)
    gpu = a.device == "cuda"
    a.check = a.check or a.check_only
    if a.check and a.weights != "same":
        raise SystemExit("compare_torch.py: --check needs --weights same")
    impls = (a.impls or ("torch,autocast,ort" if gpu else "torch,compile,ort")).split(",")
    known = {"torch", "autocast", "compile", "ort"} | ({"trt"} if gpu else set())
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
    check_failed = False
    tmp = tempfile.TemporaryDirectory(prefix="compare_torch-")
    for spec in a.models.split(","):
        torch.manual_seed(0)
        base = torch_model(spec).eval()
        weights, check = None, None
        if a.weights == "same":
            init_weights(base, 0)
            weights = export_weights(base, spec, tmp.name)
        if a.check:
            check = check_logits(base, spec, weights, a, tmp.name)
            check_failed |= check is None or not check["pass"]
        if a.check_only:
            continue
        ort_sess = None
        for n in map(int, a.batch.split(",")):
            load0 = os.getloadavg()[0]
            x = torch.rand(n, 3, h, w)
            ms, ms_min, dev, dev_min, notes, others = {}, {}, {}, {}, {}, {}
            if check is not None:
                notes["check_pass"] = check["pass"]
                notes["check_rel_l2"] = max(o["rel_l2"] for o in check["outputs"]) if check["outputs"] else None
                notes["check_max_abs_diff"] = max(o["max_abs_diff"] for o in check["outputs"]) \
                    if check["outputs"] else None
            for impl in impls:
                resident = None  # GPU: the device-resident run
                try:
                    t0 = time.perf_counter()
                    if gpu and impl in ("ort", "trt"):
                        og = OrtGpu(base, x, a.precision, impl)
                        fn, resident, stream = og.h2h, og.resident, og.stream
                    elif gpu:
                        if impl == "autocast":
                            model = base.to("cuda", torch.float32, memory_format=torch.channels_last)
                        else:
                            model = base.to("cuda", dtype, memory_format=torch.channels_last)
                        if impl == "compile":
                            model = torch.compile(model)
                        fn = gpu_runner(model, x.contiguous(memory_format=torch.channels_last), dtype,
                                        autocast=impl == "autocast")
                        resident = gpu_resident_runner(model, x, dtype, autocast=impl == "autocast")
                        stream = torch.cuda.current_stream()
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
                        if resident is not None:
                            try:
                                with torch.cuda.stream(stream):
                                    dev[impl], dev_min[impl] = (1e3 * t for t in time_cuda_events(
                                        resident, a.iters, a.min_time))
                            except Exception as e:  # the host-to-host figure stands
                                print(f"compare_torch.py: {spec} batch {n}: {impl} device-resident timing "
                                      f"failed: {short(e)}", file=sys.stderr)
                    if impl == "compile":
                        notes["compile_s"] = round(setup, 1)
                except Unavailable as e:
                    print(f"compare_torch.py: {spec} batch {n}: {impl} skipped: {e}", file=sys.stderr)
                    ms[impl] = ms_min[impl] = None
                except Exception as e:  # a failing variant is "n/a", not the end of the run
                    print(f"compare_torch.py: {spec} batch {n}: {impl} failed: {short(e)}", file=sys.stderr)
                    ms[impl] = ms_min[impl] = None
                finally:
                    og = resident = fn = None
                    if gpu:
                        torch.cuda.empty_cache()  # the next side starts with the GPU's memory free
            cmd = [str(bench), "--model", spec, "--batch", str(n), "--size", a.size, "--threads",
                   str(a.threads), "--iters", str(a.iters), "--min-time", str(a.min_time), "--json"]
            if weights:
                cmd += ["--weights", weights]
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
            except OSError as e:
                print(f"compare_torch.py: {spec} batch {n}: cannot run cuseg-bench: {e}", file=sys.stderr)
                continue
            c, c_min = r["median_ms"], r.get("min_ms", r["median_ms"])
            load1 = os.getloadavg()[0]
            rec = {"model": spec, "batch": n, "size": a.size, "threads": a.threads, "device": a.device,
                   "precision": a.precision, "weights": a.weights, "cuseg_ms": round(c, 2),
                   "cuseg_min_ms": round(c_min, 2), "cuseg_gmac_per_s": r["gmac_per_s"],
                   "cuseg_peak_frac": r["peak_frac"], "cuseg_peak_gmacs": r.get("peak_gmacs", -1),
                   "cuseg_peak_rss_mb": round(r["peak_rss_kb"] / 1024, 1),
                   "load_before": round(load0, 2), "load_after": round(load1, 2),
                   "others_cpu": {k: None if v is None else round(v, 3) for k, v in others.items()}, **notes}
            if gpu:  # cuseg-bench's device timings (docs/benchmarks.md)
                rec["cuseg_run_dev_ms"] = r.get("run_device_ms", -1)
                rec["cuseg_dev_ms"] = r.get("resident_ms", -1)
                rec["cuseg_dev_min_ms"] = r.get("resident_min_ms", -1)
                rec["cuseg_dev_gmac_per_s"] = r.get("resident_gmac_per_s", -1)
                rec["cuseg_dev_peak_frac"] = r.get("resident_peak_frac", -1)
            for impl in impls:
                rec[f"{impl}_ms"] = None if ms[impl] is None else round(ms[impl], 2)
                rec[f"{impl}_ratio"] = None if ms[impl] is None else round(ms[impl] / c, 3)
                rec[f"{impl}_min_ms"] = None if ms[impl] is None else round(ms_min[impl], 2)
                rec[f"{impl}_min_ratio"] = None if ms[impl] is None else round(ms_min[impl] / c_min, 3)
                if gpu:
                    d, cd = dev.get(impl), rec["cuseg_dev_ms"]
                    ok = d is not None and cd and cd > 0
                    rec[f"{impl}_dev_ms"] = round(d, 3) if d is not None else None
                    rec[f"{impl}_dev_ratio"] = round(d / cd, 3) if ok else None
                    rec[f"{impl}_dev_min_ms"] = round(dev_min[impl], 3) if d is not None else None
                    rec[f"{impl}_dev_min_ratio"] = round(dev_min[impl] / rec["cuseg_dev_min_ms"], 3) \
                        if ok and rec["cuseg_dev_min_ms"] > 0 else None
            line = json.dumps(rec)
            print(line, flush=True)
            if jout:
                jout.write(line + "\n")
                jout.flush()
            rows.append(rec)
    tmp.cleanup()
    if a.check_only:
        sys.exit(1 if check_failed else 0)
    where = f"{a.threads} threads"
    if gpu:
        try:
            where = torch.cuda.get_device_name(0)
        except RuntimeError as e:
            where = f"no GPU ({short(e)})"
    try:
        extra = f", onnxruntime {__import__('onnxruntime').__version__}" if {"ort", "trt"} & set(impls) else ""
    except ImportError:
        extra = ", no onnxruntime"
    print(f"\ntorch {torch.__version__}{extra}, {where}, {a.precision}, {a.stat} of the runs, "
          f"{'the same' if a.weights == 'same' else 'random'} weights on every side; "
          "ratio = X ms / cuseg ms (> 1: cuseg faster)\n")
    print_table(rows, impls, a.stat)
    if gpu:
        print("\nms: host to host (float32 host input in, outputs back in host memory, host clock); dev ms: "
              "device-resident (input on the GPU, outputs left there, CUDA events). Peak: cuseg-bench's cuBLAS "
              f"{a.precision} GEMM measured on this GPU.")
    if check_failed:
        print("compare_torch.py: a logits check FAILED (see the check lines above)", file=sys.stderr)
        sys.exit(1)


def merge_least_disturbed(rows, impls):
    """One row per (model, batch, size): for cuseg and for each implementation,
    the record whose timing other processes disturbed least; ratios recomputed."""
    def share(r, impl):
        v = r.get("others_cpu", {}).get(impl)
        return 1.0 if v is None else v

    def ratio(x, c):
        return None if x is None or c is None or c <= 0 else round(x / c, 3)
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["batch"], r["size"]), []).append(r)
    merged = []
    for recs in groups.values():
        best = min(recs, key=lambda r: share(r, "cuseg"))
        out = {k: v for k, v in best.items() if not any(k.startswith(i + "_") for i in impls)}
        out["others_cpu"] = {"cuseg": best.get("others_cpu", {}).get("cuseg")}
        c, c_min = best["cuseg_ms"], best.get("cuseg_min_ms", best["cuseg_ms"])
        cd, cd_min = best.get("cuseg_dev_ms"), best.get("cuseg_dev_min_ms")
        for i in impls:
            cand = [r for r in recs if r.get(f"{i}_ms") is not None]
            if not cand:
                out[f"{i}_ms"] = None
                continue
            r = min(cand, key=lambda r: share(r, i))
            out.update({k: v for k, v in r.items() if k.startswith(i + "_")})
            out[f"{i}_ratio"] = ratio(r[f"{i}_ms"], c)
            out[f"{i}_min_ratio"] = ratio(r.get(f"{i}_min_ms"), c_min)
            if f"{i}_dev_ms" in r:
                out[f"{i}_dev_ratio"] = ratio(r[f"{i}_dev_ms"], cd)
                out[f"{i}_dev_min_ratio"] = ratio(r.get(f"{i}_dev_min_ms"), cd_min)
            out["others_cpu"][i] = r.get("others_cpu", {}).get(i)
        merged.append(out)
    return merged


def print_table(rows, impls, stat):
    """Markdown table of JSON records (this run's, or a --table-from file's).
    GPU rows get a second group of columns: the device-resident timings."""
    names = {"torch": "PyTorch", "compile": "torch.compile", "ort": "ONNX Runtime", "autocast": "PyTorch autocast",
             "trt": "ORT TensorRT"}
    sfx = "_min" if stat == "min" else ""
    gpu = any(r.get("device") == "cuda" for r in rows)

    def cell(v, fmt=".2f"):
        return "n/a" if v is None or (isinstance(v, (int, float)) and v < 0) else format(v, fmt)

    def pct(v):
        return "-" if v is None or v < 0 else f"{100 * v:.1f}%"
    head = "| model | batch | input | cuseg ms |" + "".join(f" {names[i]} ms | ratio |" for i in impls)
    rule = "|---|---:|---|---:|" + "---:|---:|" * len(impls)
    if gpu:
        head += " cuseg dev ms |" + "".join(f" {names[i]} dev ms | dev ratio |" for i in impls)
        head += " cuseg GMAC/s (dev) | % of GEMM peak (dev) | % of peak (host to host) |"
        rule += "---:|" + "---:|---:|" * len(impls) + "---:|---:|---:|"
    else:
        head += " cuseg GMAC/s | % of FMA peak | others' CPU |"
        rule += "---:|---:|---|"
    print(head)
    print(rule)
    for r in rows:
        cells = ""
        for i in impls:
            v = r.get(f"{i}{sfx}_ms")
            cells += " n/a | n/a |" if v is None or r.get(f"{i}{sfx}_ratio") is None else \
                f" {v:.2f} | {r[f'{i}{sfx}_ratio']:.2f} |"
        line = f"| {r['model']} | {r['batch']} | {r['size']} | {r.get('cuseg' + sfx + '_ms', r['cuseg_ms']):.2f} |{cells}"
        if gpu:
            line += f" {cell(r.get('cuseg_dev' + sfx + '_ms'))} |"
            for i in impls:
                line += f" {cell(r.get(f'{i}_dev{sfx}_ms'))} | {cell(r.get(f'{i}_dev{sfx}_ratio'))} |"
            line += (f" {cell(r.get('cuseg_dev_gmac_per_s'), '.0f')} | {pct(r.get('cuseg_dev_peak_frac'))} |"
                     f" {pct(r.get('cuseg_peak_frac'))} |")
        else:
            shares = [v for v in r.get("others_cpu", {}).values() if v is not None]
            busy = f"{100 * max(shares):.0f}%" if shares else "-"
            line += f" {r['cuseg_gmac_per_s']:.1f} | {pct(r['cuseg_peak_frac'])} | {busy} |"
        print(line)


if __name__ == "__main__":
    main()
