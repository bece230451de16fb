"""Development tools, not part of the product: the sandbox EHR (``sandbox``), the synthetic patients
and their generator (``synth``, ``data/``), the vLLM stub (``vllm_stub``), the demo (``demo``,
``make demo``) and its example registrations (``ehrs.json``, ``clients.json``). The wheel and the
image leave this package out; the app never imports it."""
