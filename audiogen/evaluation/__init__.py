"""Evaluation: how well the decoders reproduce real clips, and how close generated audio is to real.

:mod:`~audiogen.evaluation.reconstruction` (``audiogen eval reconstruct``: mel L1 in dB, MR-STFT),
:mod:`~audiogen.evaluation.sharpness` (log-mel sharpness), :mod:`~audiogen.evaluation.frechet` (the
Fréchet distance), :mod:`~audiogen.evaluation.embedders` (the embeddings it compares) and
:mod:`~audiogen.evaluation.generation` (``audiogen eval generate``: the generation benchmark).
"""
