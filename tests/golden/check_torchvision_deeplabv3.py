"""Full-size acceptance check for `tv_deeplabv3` (not in CI: it needs torch
and ~350 MB of temporary files). Builds torchvision's
deeplabv3_resnet50(weights=None, aux_loss=True) with random weights and
batch-norm statistics, saves its state dict as a .pth, converts that with
convert_state_dict.py (the command line, as a user would), writes the input
(1x3x97x129) and PyTorch's outputs (out, aux), and runs
FullSize.TorchvisionDeepLabV3Resnet50 (tests/models/test_deeplab.cpp) on them.
Prints the measured errors; the exit status is the test's.

  python3 tests/golden/check_torchvision_deeplabv3.py [build/tests/cuseg_model_tests]
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from torchvision.models import segmentation

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from golden_common import nhwc, randomize_batchnorm  # noqa: E402

tests = sys.argv[1] if len(sys.argv) > 1 else str(HERE.parent.parent / "build/tests/cuseg_model_tests")
with tempfile.TemporaryDirectory() as d:
    torch.manual_seed(0)
    model = segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    model.eval()
    randomize_batchnorm(model, 1)
    pth = os.path.join(d, "deeplabv3_resnet50.pth")
    torch.save(model.state_dict(), pth)
    subprocess.run([sys.executable, str(HERE / "convert_state_dict.py"), pth,
                    os.path.join(d, "tv_deeplabv3_full.model.safetensors"),
                    "--arch", "tv_deeplabv3", "--options", "classes=21,aux=1"], check=True)
    x = torch.rand(1, 3, 97, 129)
    with torch.no_grad():
        out = model(x)
    save_file({"input": nhwc(x), "output.0": nhwc(out["out"]), "output.1": nhwc(out["aux"])},
              os.path.join(d, "tv_deeplabv3_full.io.safetensors"))
    print(f"PyTorch: out {tuple(out['out'].shape)} |max| {out['out'].abs().max():.3g}, "
          f"aux {tuple(out['aux'].shape)} |max| {out['aux'].abs().max():.3g}")
    report = os.path.join(d, "report.json")
    r = subprocess.run([tests, "--gtest_filter=FullSize.TorchvisionDeepLabV3Resnet50", "--gtest_output=json:" + report],
                       env=dict(os.environ, CUSEG_GOLDEN_DIR_EXTRA=d), capture_output=True, text=True)
    print(r.stdout[-3000:], r.stderr[-2000:])
    if os.path.exists(report):
        for suite in json.load(open(report))["testsuites"]:
            for t in suite["testsuite"]:
                errors = {k: v for k, v in t.items() if "rel_error" in k}
                print(f"{t['classname']}.{t['name']}: {t.get('result')} {t.get('time')} {errors}")
    sys.exit(r.returncode)
