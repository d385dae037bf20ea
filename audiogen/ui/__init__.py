"""The local web app (``audiogen ui``, optional extra ``pip install audiogen[ui]``).

A Gradio page whose tabs mirror the command line and call the same pipeline code:

* :mod:`audiogen.ui.host`: the loaded pipeline (kept between requests), the model choice, cooperative
  cancellation of a running job, the adapters a job gets;
* :mod:`audiogen.ui.errors`: ``UIError`` (a refused input or a failed job, shown on the page) and
  ``JobCancelled``;
* :mod:`audiogen.ui.session`: what one browser page owns (its LoRA adapters) and the host as it sees it;
* :mod:`audiogen.ui.jobs` and :mod:`audiogen.ui.edit_job`: one function per tab (generate, loop,
  variation, extend / inpaint), each checking its inputs with the CLI's messages, calling the pipeline
  and writing a :class:`~audiogen.ui.results.UIResult` (audio files, spectrogram PNG, seeds, the
  reproducing CLI command);
* :mod:`audiogen.ui.messages`: the messages of the input checks (the command line's,
  :mod:`audiogen.pipelines.checks`, raising :class:`~audiogen.errors.InputError`) in the page's words;
* :mod:`audiogen.ui.finetune_job`: ``audiogen finetune`` as a subprocess, its progress read from the run
  folder; :mod:`audiogen.ui.runs`: the server's background runs, keyed by run folder;
* :mod:`audiogen.ui.components`, :mod:`audiogen.ui.lora_panel`, :mod:`audiogen.ui.finetune_tab`: the
  result panel with its status line, sampling controls, the cancellable job runner, the LoRA section and
  the Fine-tune tab;
* :mod:`audiogen.ui.app`: the ``gr.Blocks`` page wiring it together.

Only :mod:`audiogen.ui.app`, :mod:`audiogen.ui.components`, :mod:`audiogen.ui.lora_panel` and
:mod:`audiogen.ui.finetune_tab` import gradio; the rest works without it.
"""
