"""Model preprocessing shared by make-inputs.py and make-task-data.py, so both feed the real models
exactly the same way (imported from the scripts' own folder; no side effects on import)."""
import os
import shlex
import subprocess
import tempfile
import wave

import numpy as np
from PIL import Image

SAMPLE_RATE = 16000


def ort_run_command():
    """The command that runs a model in ONNX Runtime and writes one .npy per output: `ort-run` of
    tests/QuantBuild.Benchmarks (Microsoft.ML.OnnxRuntime in process), which tests/fetch-assets.sh builds and
    names in QUANTBUILD_ORT_RUN (for example "dotnet <path>/QuantBuild.Benchmarks.dll ort-run")."""
    command = os.environ.get("QUANTBUILD_ORT_RUN", "")
    if not command:
        raise SystemExit("QUANTBUILD_ORT_RUN is not set: run this script through tests/fetch-assets.sh, which builds "
                         "tests/QuantBuild.Benchmarks and sets it to its `ort-run` command")
    return shlex.split(command)
MEL_WINDOW, MEL_STEP = 76, 8


def paddle_cls_input(image, max_width=192):
    # PaddleOCR's classifier preprocessing: keep aspect, height 48, width <= 192, pad right with 0
    # (after normalization, i.e. mid grey), pixels (p/255 - 0.5)/0.5, CHW. The PP-OCRv4 recognizer takes
    # the same normalization at width 320.
    height = 48
    width = min(max_width, int(np.ceil(height * image.width / image.height)))
    pixels = np.asarray(image.resize((width, height), Image.BILINEAR), dtype=np.float32)
    chw = ((pixels / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
    padded = np.zeros((3, height, max_width), dtype=np.float32)
    padded[:, :, :width] = chw
    return padded[None]


def synthesize(text, voice, rate, pitch=None):
    """espeak-ng speech resampled to 16 kHz mono int16 samples (pitch None: espeak's default)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, resampled = os.path.join(tmp, "raw.wav"), os.path.join(tmp, "16k.wav")
        espeak = ["espeak-ng", "-v", voice, "-s", str(rate)]
        if pitch is not None:
            espeak += ["-p", str(pitch)]
        subprocess.run(espeak + ["-w", raw, text], check=True)
        # -R -D: sox dithers with a random seed by default; the data must be byte-identical run to run.
        subprocess.run(["sox", "-R", "-D", raw, "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", resampled], check=True)
        with wave.open(resampled) as w:
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def mel_windows(mel):
    """The mel windows openWakeWord would embed, every 8 frames, aligned to the clip's end; oldest first."""
    mel = mel.reshape(-1, 32) / 10.0 + 2.0
    starts = list(range(len(mel) - MEL_WINDOW, -1, -MEL_STEP))[::-1]
    return np.stack([mel[s:s + MEL_WINDOW] for s in starts])[..., None]  # [W, 76, 32, 1]
