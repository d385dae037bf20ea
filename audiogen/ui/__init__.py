"""The local web app (``audiogen ui``, optional extra ``pip install audiogen[ui]``).

A Gradio page whose tabs mirror the command line and call the same pipeline code:

* :mod:`audiogen.ui.host`: the loaded pipeline (kept between requests), the model choice, cooperative
  cancellation of a running job;
* :mod:`audiogen.ui.jobs` and :mod:`audiogen.ui.edit_job`: one function per tab (generate, loop,
  variation, extend / inpaint), each checking its inputs with the CLI's messages, calling the pipeline
  and writing a :class:`~audiogen.ui.results.UIResult` (audio files, spectrogram PNG, seeds, the
  reproducing CLI command);
* :mod:`audiogen.ui.finetune_job`: ``audiogen finetune`` as a subprocess, its progress and sample clips;
* :mod:`audiogen.ui.components`: the result panel, sampling controls and the cancellable job runner;
* :mod:`audiogen.ui.app`: the ``gr.Blocks`` page wiring it together.

Only :mod:`audiogen.ui.app` and :mod:`audiogen.ui.components` import gradio; the rest works without it.
"""
