"""Start-up cost of generating: what the generation path imports, and how weights are loaded.

A fresh process pays for every import: diffusers (with ``torch._dynamo``, which it and PyTorch's
meta-device reference kernels pull in) costs seconds, so generation must not import it; training
may. No wall-clock limits here (they would depend on the machine); ``benchmarks/bench_generate.py``
measures the times.
"""

import json
import subprocess
import sys

import torch

from audiogen import hub

#: modules the generation path must not import (each costs from tenths of a second to seconds)
HEAVY = ("diffusers", "torch._dynamo", "accelerate", "librosa", "gradio", "matplotlib", "peft", "scipy")


def _modules_after(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_generating_imports_neither_diffusers_nor_dynamo(tmp_path):
    """The CLI's generate, then the pipeline's samplers and a variation, in one fresh process."""
    code = f"""
import json, sys
from audiogen.cli import app
app(["generate", "--seconds", "0.5", "--num", "1", "--steps", "2", "--device", "cpu",
     "--out", {str(tmp_path)!r}], standalone_mode=False)
from audiogen import load_pretrained
pipe = load_pretrained(device="cpu")
for sampler in ("dpm++", "ddim", "euler"):
    result = pipe(0.3, steps=2, sampler=sampler, progress=False)
pipe.variation(result.waveforms[0], pipe.sample_rate, strength=0.5, steps=2, progress=False)
print(json.dumps({{name: name in sys.modules for name in {HEAVY!r}}}))
"""
    imported = _modules_after(code)
    assert not any(imported.values()), imported
    assert (tmp_path / "any_seed000000.wav").is_file()


def test_help_does_not_import_torch():
    code = """
import json, sys
from audiogen.cli import app
for argv in (["--help"], ["generate", "--help"]):
    try:
        app(argv, standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps({"torch": "torch" in sys.modules}))
"""
    assert _modules_after(code) == {"torch": False}


def test_weights_are_assigned_in_place_and_match_a_copied_load():
    """from_pretrained (meta skeleton, weights assigned) equals building the module and copying the
    weights in: every tensor, and the outputs bit for bit (unaligned safetensors buffers are copied
    to aligned memory, or CPU kernels round differently)."""
    from audiogen.config import from_dict
    from audiogen.models.pretrained import load_model_files

    folder = hub.DEFAULT_PIPELINE / "denoiser"
    loaded = hub.load_model(folder, "denoiser")
    meta = json.loads((folder / hub.CONFIG_NAME).read_text())
    klass = hub.model_class(meta["class"])
    copied = klass(from_dict(klass.config_class, meta["config"]))
    copied.load_state_dict(load_model_files(folder)[2])
    copied.eval()
    for (name, a), (_, b) in zip(copied.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert not b.is_meta and b.data_ptr() % 64 == 0, name
        assert torch.equal(a, b), name
    pairs = zip(copied.parameters(), loaded.parameters(), strict=True)
    assert all(p.requires_grad == q.requires_grad for p, q in pairs)
    x = torch.randn(2, loaded.config.latent_dim, 32, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([999, 10])
    with torch.no_grad():
        assert torch.equal(copied(x, t, None), loaded(x, t, None))


def test_non_persistent_buffers_are_real_after_loading():
    """Buffers computed in __init__ (the vocoder's window) are built on the CPU, not left on meta."""
    vocoder = hub.load_model(hub.DEFAULT_PIPELINE / "vocoder", "vocoder")
    tensors = [*vocoder.parameters(), *vocoder.buffers()]
    assert tensors and not any(t.is_meta for t in tensors)
    if hasattr(vocoder, "window"):
        torch.testing.assert_close(vocoder.window, torch.hann_window(vocoder.window.shape[0]), rtol=0, atol=0)


def test_generate_process_ends_fast_with_its_output_written(tmp_path):
    """``audiogen generate`` leaves through os._exit (audiogen.cli.exit): the exit status, the
    printed lines (stdout is a pipe here, so block-buffered) and the file must all be complete."""
    import soundfile as sf

    command = [sys.executable, "-m", "audiogen.cli", "generate", "--seconds", "0.5", "--steps", "2",
               "--device", "cpu", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "clip(s) in" in done.stdout
    info = sf.info(str(tmp_path / "any_seed000000.wav"))
    assert info.frames == round(0.5 * info.samplerate)
    again = subprocess.run(command, capture_output=True, text=True)  # exists, no --overwrite: status 2
    assert again.returncode == 2 and "pass --overwrite" in again.stderr
