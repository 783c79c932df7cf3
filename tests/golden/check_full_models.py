"""Full-size acceptance check (not in CI: it needs torch and ~300 MB of
temporary files): torchvision's deeplabv3_resnet50 with aux head and smp's
Unet('resnet34'), random weights and BN statistics, each saved as a .pth
state dict, converted with convert_state_dict.py, then run by cuseg against
PyTorch's logits.

  python3 tests/golden/check_full_models.py build/tests/cuseg_model_tests
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file
import segmentation_models_pytorch as smp
from torchvision.models import segmentation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_state_dict import to_cuseg  # noqa: E402
from golden_common import nhwc, randomize_batchnorm  # noqa: E402

tests = sys.argv[1] if len(sys.argv) > 1 else "build/tests/cuseg_model_tests"
with tempfile.TemporaryDirectory() as d:
    torch.manual_seed(0)
    model = segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    model.eval()
    randomize_batchnorm(model, 1)
    pth = os.path.join(d, "deeplabv3_resnet50.pth")
    torch.save(model.state_dict(), pth)
    sd = torch.load(pth, map_location="cpu")
    to_cuseg(sd, "tv_deeplabv3", "classes=21,aux=1", os.path.join(d, "tv_deeplabv3_full.model.safetensors"))
    x = torch.rand(1, 3, 97, 129)
    with torch.no_grad():
        out = model(x)
    save_file({"input": nhwc(x), "output.0": nhwc(out["out"]), "output.1": nhwc(out["aux"])},
              os.path.join(d, "tv_deeplabv3_full.io.safetensors"))
    torch.manual_seed(1)
    unet = smp.Unet("resnet34", encoder_weights=None, classes=21).eval()
    randomize_batchnorm(unet, 2)
    pth = os.path.join(d, "unet_resnet34.pth")
    torch.save(unet.state_dict(), pth)
    to_cuseg(torch.load(pth, map_location="cpu"), "smp_unet", "backbone=resnet34,classes=21",
             os.path.join(d, "smp_unet_full.model.safetensors"))
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        y = unet(x)
    save_file({"input": nhwc(x), "output.0": nhwc(y)}, os.path.join(d, "smp_unet_full.io.safetensors"))
    env = dict(os.environ, CUSEG_GOLDEN_DIR_EXTRA=d)
    r = subprocess.run([tests, "--gtest_filter=FullSize.*", "--gtest_output=json:" + os.path.join(d, "r.json")],
                       env=env, capture_output=True, text=True)
    print(r.stdout[-2000:])
    print(open(os.path.join(d, "r.json")).read()[:1500] if os.path.exists(os.path.join(d, "r.json")) else "")
    sys.exit(r.returncode)
