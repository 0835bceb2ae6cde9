# Writes 8 deterministic pseudo-random MNIST-shaped samples (float32 .npy, by hand: no numpy needed) into
# the folder given as the first argument: the calibration set of the build benchmarks' MNIST app.
import random, struct, sys
rng = random.Random(5)
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }"
header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
for k in range(8):
    with open(f"{sys.argv[1]}/d{k}.npy", "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<784f", *[rng.random() if rng.randrange(4) == 0 else 0.0 for _ in range(784)]))
