"""The level of newly generated audio in an edit: brought to that of the input around it.

Used by :mod:`audiogen.pipelines.inpaint` (``match_level=True``, the default of ``pipe.extend``,
``pipe.inpaint`` and the ``extend`` / ``inpaint`` commands).
"""

from __future__ import annotations

import torch

#: Seconds of kept audio next to an edited span whose level the new audio is brought to.
LEVEL_CONTEXT_SECONDS = 3.0
#: Seconds over which that gain ramps in from a boundary (1 at the boundary itself).
LEVEL_RAMP_SECONDS = 0.5
#: The largest level change applied, dB either way.
MAX_LEVEL_CHANGE_DB = 18.0


def match_levels(
    synth: torch.Tensor,
    source: torch.Tensor,
    before: int,
    kept: list[tuple[int, int]],
    edited: list[tuple[int, int]],
    sample_rate: int,
) -> torch.Tensor:
    """Bring each edited span of ``synth`` to the RMS level of the input around it.

    The denoiser was trained on peak-normalised crops and generates at its own level whatever the
    level of the audio it continues, so a quiet recording would go on louder (a median of +3.4 dB
    on unseen orchestral tracks). For each edited span ``[a, b)`` of the output, the RMS of the
    input's samples within :data:`LEVEL_CONTEXT_SECONDS` of it (on its kept sides) over the RMS of
    ``synth`` in the span gives a gain (at most :data:`MAX_LEVEL_CHANGE_DB` either way; 1 where either
    is silent), applied in dB over :data:`LEVEL_RAMP_SECONDS` from each boundary with kept audio
    (gain 1 at the boundary itself, so the re-synthesised audio there is unchanged) and fully
    inside.

    Args:
        synth: the vocoded timeline on the output's samples, ``(batch, 1, samples)``.
        source: the input at the model's rate, ``(batch, 1, n)``; output sample ``p`` of kept audio
            is ``source[..., p - before]``.
        before, kept, edited, sample_rate: as in :class:`EditResult` (output sample ranges).

    Returns:
        ``synth`` with the edited spans scaled (a new tensor).
    """
    from audiogen.audio.levels import SILENCE_DB, rms_db

    out = synth.clone()
    width = round(LEVEL_CONTEXT_SECONDS * sample_rate)
    for a, b in edited:
        context = [
            source[..., max(lo, p0) - before : min(hi, p1) - before]
            for lo, hi in kept
            for p0, p1 in ((a - width, a), (b, b + width))
            if min(hi, p1) > max(lo, p0)
        ]
        if not context or b <= a:
            continue
        kept_db = rms_db(torch.cat(context, dim=-1)[:, 0])  # (batch,)
        new_db = rms_db(synth[:, 0, a:b])
        change = (kept_db - new_db).clamp(-MAX_LEVEL_CHANGE_DB, MAX_LEVEL_CHANGE_DB)
        change = change.masked_fill((kept_db < SILENCE_DB) | (new_db < SILENCE_DB), 0.0)
        position = torch.arange(a, b, dtype=torch.float32)
        ramp = max(1, round(LEVEL_RAMP_SECONDS * sample_rate))
        weight = torch.ones(b - a)
        for edge in (a, b):
            if any(edge in (lo, hi) for lo, hi in kept):  # a boundary with kept audio
                weight = torch.minimum(weight, ((position - edge).abs() / ramp).clamp(max=1.0))
        gain = 10 ** (change[:, None] * weight[None] / 20)  # (batch, span)
        out[:, 0, a:b] = synth[:, 0, a:b] * gain
    return out
