"""Peak resident memory after each stage of ``AudioGenPipeline.variation`` with the bundled model.

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/profile_variation_memory.py SECONDS``. Feeds
SECONDS of noise at 22.05 kHz (mono) through ``variation`` (one sampler step) on the CPU and prints
the process's peak RSS (``ru_maxrss``) after the imports, the model load, and each stage (encode,
denoise, decode, vocode). The peak only grows, so each line's increase is what that stage added.
The encoder, decoder and vocoder run in chunks on long inputs (:mod:`audiogen.pipelines.windows`); a stage's
line is printed once, after its last chunk.
"""

from __future__ import annotations

import resource
import sys

import torch

_pending: list[tuple[str, float]] = []  # (stage, peak after its latest call)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(tag: str) -> None:
    """Note the peak after stage ``tag``; chunked calls of one stage give one line."""
    if _pending and _pending[0][0] != tag:
        flush()
    _pending[:] = [(tag, peak_mb())]


def flush() -> None:
    for tag, peak in _pending:
        print(f"{tag}: peak {peak:.0f} MB", flush=True)
    _pending.clear()


def main() -> None:
    import audiogen.pipelines.denoise as denoise
    from audiogen import load_pretrained

    report("imports")
    pipe = load_pretrained(device="cpu")
    report("model loaded")
    flush()
    seconds = float(sys.argv[1])
    waveform = 0.1 * torch.randn(1, int(seconds * 22050))  # (channels, samples)

    def traced(fn, tag):
        def call(*args, **kwargs):
            out = fn(*args, **kwargs)
            report(tag)
            return out

        return call

    pipe.autoencoder.encode = traced(pipe.autoencoder.encode, "encode")
    pipe.autoencoder.decode = traced(pipe.autoencoder.decode, "decode")
    denoise.noise_and_denoise = traced(denoise.noise_and_denoise, "denoise")
    pipe.vocoder.forward = traced(pipe.vocoder.forward, "vocode")
    if hasattr(pipe.vocoder, "analyse"):  # the Griffin-Lim vocoder's chunks go through analyse
        pipe.vocoder.analyse = traced(pipe.vocoder.analyse, "vocode")
    with torch.no_grad():
        pipe.variation(waveform, 22050, strength=0.5, steps=1, progress=False)
    flush()


if __name__ == "__main__":
    main()
