"""Full-size check of `smp_unet` against segmentation_models_pytorch.

smp.Unet's encoders carry ~95 MB (resnet34) and ~93 MB (vgg16) of weights,
too much to commit as goldens, so this script writes the goldens at test time:
smp.Unet(backbone, encoder_weights=None, classes=3) with seeded default
initialisation and randomised batch norms, in eval mode, saved as cuseg model
files (safetensors + metadata arch/options) with input/output files, for two
input sizes (64x96 and 75x101: smp >= 0.5 resizes to each skip's exact size,
so sizes that are not multiples of 32 are legal). Then it runs the model test
SmpUnet.MatchesGoldensInExtraDir with CUSEG_GOLDEN_DIR_EXTRA pointing there,
and prints the errors the test measured.

Run from the repository root after building:
  python3 tests/golden/check_smp_unet.py [--binary build/tests/cuseg_model_tests]
                                         [--backbones resnet34,vgg16] [--keep DIR]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import segmentation_models_pytorch as smp
import torch

from golden_common import randomize_batchnorm, save_case

SIZES = [(2, 3, 64, 96), (2, 3, 75, 101)]


def write_goldens(out_dir, backbone, seed):
    torch.manual_seed(seed)
    model = smp.Unet(backbone, encoder_weights=None, classes=3).eval()
    randomize_batchnorm(model, seed + 1)
    first = None
    for shape in SIZES:
        case = f"smp_unet_{backbone}_{shape[2]}x{shape[3]}"
        x = torch.rand(*shape)
        with torch.no_grad():
            y = model(x)
        # An absolute "family" makes save_case write into out_dir.
        save_case(os.path.abspath(out_dir), case, model, "smp_unet",
                  f"backbone={backbone},classes=3", x, [y])
        model_file = os.path.join(out_dir, f"{case}.model.safetensors")
        if first is None:
            first = model_file
        else:  # the same weights: share one model file
            os.remove(model_file)
            os.symlink(os.path.basename(first), model_file)
        print(f"  {case}: output std {y.std().item():.3g}, max |y| {y.abs().max().item():.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="build/tests/cuseg_model_tests")
    ap.add_argument("--backbones", default="resnet34,vgg16")
    ap.add_argument("--keep", help="write the goldens here and keep them (default: a temporary directory)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cuseg_smp_unet_") as tmp:
        out_dir = args.keep or tmp
        os.makedirs(out_dir, exist_ok=True)
        for i, backbone in enumerate(args.backbones.split(",")):
            write_goldens(out_dir, backbone, 21 + 10 * i)
        xml = os.path.join(tmp, "result.xml")
        env = dict(os.environ, CUSEG_GOLDEN_DIR_EXTRA=out_dir)
        r = subprocess.run([args.binary, "--gtest_filter=SmpUnet.MatchesGoldensInExtraDir",
                            f"--gtest_output=xml:{xml}"], env=env, capture_output=True, text=True)
        print(r.stdout[-4000:], r.stderr[-2000:], sep="")
        if os.path.exists(xml):
            for name, value in re.findall(r'<property name="([^"]*rel_error[^"]*)" value="([^"]*)"', open(xml).read()):
                print(f"measured {name}: {value}")
        return r.returncode


if __name__ == "__main__":
    sys.exit(main())
