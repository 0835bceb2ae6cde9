#!/usr/bin/env python3
"""Writes the wake-word sample's audio as 16 kHz mono 16-bit WAV files, the format a microphone app records.

Usage: make-clips.py ASSETS_DIR SAMPLE_DIR

  SAMPLE_DIR/Models/calibration/audio/NNNN.wav  the 16 calibration phrases of .assets/task/oww/labels.json ("calib"),
                                                 spoken by espeak-ng again (tests/oracle/preprocess.py), speech
                                                 starting at the recorded onset of a 3 s clip
  SAMPLE_DIR/clips/alexa.wav                     evaluation clip 1 ("alexa stop", a positive), from its .npy
  SAMPLE_DIR/clips/negative.wav                  evaluation clip 16 ("the weather is nice today"), from its .npy
  SAMPLE_DIR/clips/stream.wav                    9 s: negative clip 17, positive clip 9 ("alexa, play music"), negative
                                                 clip 18 back to back
  SAMPLE_DIR/clips/eval/NNNN-{alexa,other}.wav   all 48 evaluation clips (16 say "alexa"), for the comparison with the
                                                 fp32 chain (samples/run-wakeword.sh --compare)

The evaluation and calibration phrases are disjoint (make-task-data.py checks it), so the sample is never shown
what it was calibrated on. espeak-ng and sox run without randomness: the files are the same bytes every run.
"""
import json
import os
import sys
import wave

import numpy as np

ASSETS, SAMPLE = (os.path.abspath(a) for a in sys.argv[1:3])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "oracle"))
from preprocess import SAMPLE_RATE, synthesize  # noqa: E402

CLIP_SAMPLES = 3 * SAMPLE_RATE
TASK = os.path.join(ASSETS, "task", "oww")


def write_wav(path, samples):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    values = np.asarray(samples, dtype=np.float64).reshape(-1)
    assert np.all(values == np.round(values)) and values.min() >= -32768 and values.max() <= 32767, path
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(values.astype("<i2").tobytes())


def evaluation_clip(index):
    return np.load(os.path.join(TASK, "eval", "%04d.npy" % index)).reshape(-1)


with open(os.path.join(TASK, "labels.json")) as f:
    labels = json.load(f)

for index, meta in enumerate(labels["calib"]):
    speech = synthesize(meta["text"], meta["voice"], meta["rate"], meta["pitch"])
    loud = np.flatnonzero(np.abs(speech) > 64)
    speech = speech[loud[0]:] if len(loud) else speech  # trim espeak's leading silence, as the task data does
    onset = int(round(meta["onset_s"] * SAMPLE_RATE))
    clip = np.zeros(CLIP_SAMPLES, dtype=np.int16)
    speech = speech[:CLIP_SAMPLES - onset]
    clip[onset:onset + len(speech)] = speech
    write_wav(os.path.join(SAMPLE, "Models", "calibration", "audio", "%04d.wav" % index), clip)

write_wav(os.path.join(SAMPLE, "clips", "alexa.wav"), evaluation_clip(1))
write_wav(os.path.join(SAMPLE, "clips", "negative.wav"), evaluation_clip(16))
write_wav(os.path.join(SAMPLE, "clips", "stream.wav"), np.concatenate([evaluation_clip(17), evaluation_clip(9), evaluation_clip(18)]))
for index, meta in enumerate(labels["eval"]):
    name = "%04d-%s.wav" % (index, "alexa" if meta["label"] == 1 else "other")
    write_wav(os.path.join(SAMPLE, "clips", "eval", name), evaluation_clip(index))
print(f"make-clips: {len(labels['calib'])} calibration clips, 3 demo clips, {len(labels['eval'])} evaluation clips")
