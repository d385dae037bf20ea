"""Named stages of the spectral front end, for ``torch.profiler`` and for stage timing.

:class:`_section` wraps each stage of :mod:`audiogen.audio.frontend` in a ``torch.profiler``
range; ``benchmarks/bench_spectral.py`` switches on its wall-clock timer to split the front end's time
by stage.
"""

from __future__ import annotations

import time

import torch


class _section:  # noqa: N801 - used like a function: ``with _section("spectral.fft"): ...``
    """Named stage of the front end: a ``torch.profiler`` range, and a wall-clock timer when enabled.

    Stages: ``spectral.pad`` (per-clip reflect padding / packing), ``spectral.fft`` (the
    FFT of the frames), ``spectral.window`` (frequency-domain Hann window),
    ``spectral.magnitude`` (``|X| ** power``), ``spectral.filterbank`` (mel matmul),
    ``spectral.log`` and ``spectral.unpack`` (valid frames back to ``(batch, dim, frames)``).
    ``benchmarks/bench_spectral.py`` sets :data:`stage_times` to a dict to accumulate seconds per stage
    (synchronising CUDA at stage edges, so only for measurements); normally it is None and a stage
    costs a profiler range check.
    """

    __slots__ = ("name", "_range", "_start")
    stage_times: dict[str, float] | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self._range = torch.profiler.record_function(name)

    def __enter__(self) -> _section:
        self._range.__enter__()
        if _section.stage_times is not None:
            _sync_cuda()
            self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if _section.stage_times is not None:
            _sync_cuda()
            times = _section.stage_times
            times[self.name] = times.get(self.name, 0.0) + time.perf_counter() - self._start
        self._range.__exit__(*exc)


def _sync_cuda() -> None:
    """Wait for CUDA work (stage timing only)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
