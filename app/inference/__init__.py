"""RaDaR: the OpenAI-compatible client, queued jobs, grounding of the answer, and service status."""
