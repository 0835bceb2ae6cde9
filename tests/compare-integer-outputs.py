#!/usr/bin/env python3
"""Bit identity against an older build: quantize every real model (W8, W4, multipoint W8, WEQ W4) with this
checkout's CLI and with OLD (a quantbuild.dll built from another commit), compare the .quant.onnx and .g.cs
files byte for byte, then run this build's QDQ file through both builds' integer runtimes (`run --int`) on every
input case and compare the .npy outputs byte for byte. Kernel work must leave every byte unchanged.
Usage: python3 tests/compare-integer-outputs.py OLD/quantbuild.dll [MODEL_ID,...]   (after building src/QuantBuild.Cli
in Release; the model ids of .assets/inputs/manifest.json, default all). A case one build cannot run counts as a difference.
"""
import json, os, subprocess, sys, filecmp, glob, tempfile
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if len(sys.argv) not in (2, 3):
    sys.exit(__doc__)
only = set(sys.argv[2].split(",")) if len(sys.argv) == 3 else None
new = ["dotnet", f"{root}/src/QuantBuild.Cli/bin/Release/net10.0/quantbuild.dll"]
old = ["dotnet", os.path.abspath(sys.argv[1])]
manifest = json.load(open(f"{root}/.assets/inputs/manifest.json"))
entries = manifest if isinstance(manifest, list) else manifest["models"]
variants = [("w8", {"bits": 8}), ("w4", {"bits": 4}), ("mp-w8", {"bits": 8, "method": "multipoint"}), ("weq-w4", {"bits": 4, "method": "weq"})]
work = tempfile.mkdtemp(prefix="quantbuild-compare-")
ok = True
for e in entries:
    if e["id"] == "oww-melspectrogram" or (only is not None and e["id"] not in only): continue
    model = os.path.join(root, ".assets", e["model"])
    case = e["cases"][0]
    calib = {n: os.path.join(root, ".assets", os.path.dirname(os.path.dirname(p)), "*", os.path.basename(p)) for n, p in case["inputs"].items()}
    for name, weights in variants:
        d = f"{work}/{e['id']}-{name}"
        os.makedirs(d, exist_ok=True)
        sidecar = f"{d}/side.quant.json"
        json.dump({"weights": weights, "calibration": {"inputs": calib}}, open(sidecar, "w"))
        outs = {}
        for label, cli in (("new", new), ("old", old)):
            od = f"{d}/{label}"
            r = subprocess.run(cli + ["quantize", model, "-c", sidecar, "-o", od, "-n", "m", "-t", "1"], capture_output=True, text=True)
            if r.returncode != 0:
                print(e["id"], name, label, "quantize failed", r.stderr[-300:]); ok = False; break
        else:
            same_qdq = filecmp.cmp(f"{d}/new/m.quant.onnx", f"{d}/old/m.quant.onnx", shallow=False)
            same_cs = filecmp.cmp(f"{d}/new/m.g.cs", f"{d}/old/m.g.cs", shallow=False)
            results = []
            for c in e["cases"]:
                args = []
                for n, p in c["inputs"].items():
                    args += ["-i", f"{n}={os.path.join(root, '.assets', p)}"]
                for label, cli in (("new", new), ("old", old)):
                    r = subprocess.run(cli + ["run", f"{d}/new/m.quant.onnx", "--int", "-o", f"{d}/run-{label}-{c['name']}", "-t", "1"] + args, capture_output=True, text=True)
                    if r.returncode != 0: print(e["id"], name, label, "run failed", r.stderr[-300:]); ok = False
                files = sorted(os.path.basename(f) for f in glob.glob(f"{d}/run-new-{c['name']}/*.npy"))
                same = len(files) > 0 and all(os.path.exists(f"{d}/run-old-{c['name']}/{f}")
                                              and filecmp.cmp(f"{d}/run-new-{c['name']}/{f}", f"{d}/run-old-{c['name']}/{f}", shallow=False) for f in files)
                results.append(same)
            print(f"{e['id']:22} {name:7} qdq identical {same_qdq}  g.cs identical {same_cs}  integer-runtime outputs identical on {sum(results)}/{len(results)} cases")
            ok &= same_qdq and all(results)
print("ALL IDENTICAL" if ok else "DIFFERENCES FOUND")
sys.exit(0 if ok else 1)
