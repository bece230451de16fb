"""An OpenAI-compatible stand-in for RaDaR served by vLLM, for the demo and the tests.

It speaks the same wire format as ``vllm serve sczzz/RaDaR-32B --reasoning-parser deepseek_r1``:
``GET /v1/models``, ``GET /health`` and ``POST /v1/chat/completions`` (plain or streamed as
``data: {json}`` server-sent events with ``reasoning_content`` deltas, a finish chunk, an
optional usage chunk and ``data: [DONE]``).

What it answers is chosen by a *mode*, so tests can provoke every failure the client must
survive. A request picks its mode with a line ``[[stub:MODE]]`` (or ``[[stub:MODE:N]]`` for
the error modes: fail the first N such requests, then answer normally) in the last user
message; otherwise ``POST /_stub/mode {"mode": ..., "times": n}`` sets the mode of the next
``n`` requests (every request when ``times`` is absent). ``GET /_stub/requests`` lists what
was received, ``POST /_stub/reset`` forgets it.

Like the DeepSeek-R1 distills RaDaR comes from, it expects the instruction in the user turn: a
request with a system message is refused (HTTP 400) unless ``allow_system`` is set, as is one
without a user message or with sampling parameters vLLM would refuse. A ``<case>`` … ``</case>``
block in the user message, when there is one, is what the answer is chosen from.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator

from flask import Flask, Response, jsonify, request

MODES = ("normal", "think_tags", "think_unopened", "slow", "disconnect", "error429", "error500", "malformed",
         "wrong_model", "hostile", "injected", "length")
DEFAULTS = {
    "model": "sczzz/RaDaR-32B",
    "other_model": "Qwen/Qwen2.5-7B-Instruct",
    "max_model_len": 32768,
    "delay": 0.0,  # seconds between pieces in every mode
    "slow_delay": 0.2,  # seconds between pieces in the slow mode
    "mode": "normal",
    "times": None,
    "allow_system": False,  # accept system messages, for models prompted the other way
}
_MARKER = re.compile(r"\[\[stub:([a-z0-9_]+)(?::(\d+))?\]\]")

# Disease → words in the case that make it more likely, in the default order of the answer.
DISEASES = (
    ("Marfan syndrome", "tall stature, arachnodactyly and ectopia lentis with aortic root dilatation",
     ("marfan", "tall", "arachnodactyly", "lens", "aortic", "ectopia")),
    ("Neurofibromatosis type 1", "café-au-lait macules, axillary freckling and cutaneous neurofibromas",
     ("café-au-lait", "cafe-au-lait", "neurofibroma", "freckling", "lisch")),
    ("Gaucher disease", "hepatosplenomegaly, cytopenias and bone pain suggest a lysosomal storage disorder",
     ("splenomegaly", "hepatosplenomegaly", "thrombocytopenia", "bone pain", "gaucher")),
    ("Fabry disease", "acroparesthesia, angiokeratomas, hypohidrosis and proteinuria",
     ("acroparesthesia", "angiokeratoma", "hypohidrosis", "proteinuria", "fabry")),
    ("Wilson disease", "liver disease with neuropsychiatric signs and Kayser-Fleischer rings",
     ("kayser", "copper", "ceruloplasmin", "tremor", "wilson")),
    ("Hereditary hemorrhagic telangiectasia", "recurrent epistaxis, mucocutaneous telangiectasias and AVMs",
     ("epistaxis", "telangiectasia", "arteriovenous")),
    ("Tuberous sclerosis complex", "seizures, hypomelanotic macules and facial angiofibromas",
     ("seizure", "angiofibroma", "hypomelanotic", "ash-leaf", "tuber")),
    ("Ehlers-Danlos syndrome, hypermobile type", "joint hypermobility, skin hyperextensibility and easy bruising",
     ("hypermobility", "hyperextensib", "bruising", "dislocation")),
    ("Glycogen storage disease due to acid maltase deficiency",
     "proximal weakness, raised CK and respiratory insufficiency (Pompe disease)",
     ("weakness", "creatine kinase", "ck ", "myopathy", "pompe")),
    ("Cystic fibrosis", "recurrent chest infections, failure to thrive and a raised sweat chloride",
     ("sweat chloride", "bronchiectasis", "pancreatic", "failure to thrive")),
)
REASONING = (
    "Let me read the case carefully. The patient has a combination of findings that is unusual "
    "for a common disease, so a rare, often genetic, condition is worth considering. "
    "First I list the key phenotypes and check which organ systems are involved. "
    "Multisystem involvement points towards a syndromic or metabolic cause rather than an "
    "acquired one. I weigh each candidate by how many of the cardinal features it explains, "
    "and whether any documented finding argues against it. "
    "Now I rank the candidates, most likely first."
)


class StubState:
    """Mutable stub state shared by the request threads: mode queue, counters, request log."""

    def __init__(self, config: dict):
        self.config = config
        self.lock = threading.Lock()
        self.mode = config["mode"]
        self.times = config["times"]
        self.requests: list[dict] = []
        self.marker_counts: dict[str, int] = {}
        self.emitted: list[tuple[float, int]] = []  # (time sent, reasoning characters so far), last stream

    def set_mode(self, mode: str, times: int | None) -> None:
        """Answer the next ``times`` requests (all when None) in ``mode``."""
        with self.lock:
            self.mode, self.times = mode, times

    def peek_mode(self) -> str:
        """The state's current mode, without using up one of its ``times``."""
        with self.lock:
            return self.mode

    def take_mode(self) -> str:
        """The state's mode for one request; counts down ``times``, then back to normal."""
        with self.lock:
            mode = self.mode
            if self.times is not None:
                self.times -= 1
                if self.times <= 0:
                    self.mode, self.times = "normal", None
            return mode

    def marker_hit(self, key: str) -> int:
        """How many requests carried the marker ``key`` before this one."""
        with self.lock:
            seen = self.marker_counts.get(key, 0)
            self.marker_counts[key] = seen + 1
            return seen

    def record(self, body: dict, mode: str) -> None:
        """Remember a received chat request (messages and parameters) for the tests."""
        params = {k: v for k, v in body.items() if k != "messages"}
        with self.lock:
            self.requests.append({"messages": body.get("messages"), "params": params, "mode": mode})
            self.emitted.clear()


def create_stub(config: dict | None = None) -> Flask:
    """Make the stub WSGI app; ``config`` overrides ``DEFAULTS`` (model, delays, initial mode)."""
    app = Flask(__name__)
    state = StubState({**DEFAULTS, **(config or {})})
    app.extensions["vllm_stub"] = state

    @app.get("/health")
    def health():
        return Response(status=200)

    @app.get("/v1/models")
    def models():
        return jsonify(_models_body(state))

    @app.post("/v1/chat/completions")
    def chat():
        return _chat(state, request.get_json(force=True, silent=True) or {})

    @app.post("/_stub/mode")
    def set_mode():
        body = request.get_json(force=True, silent=True) or {}
        if body.get("mode") not in MODES:
            return _error(f"mode must be one of {', '.join(MODES)}", "BadRequestError", 400)
        state.set_mode(body["mode"], body.get("times"))
        return jsonify({"mode": body["mode"], "times": body.get("times")})

    @app.get("/_stub/emitted")
    def emitted():
        """When each piece of the last stream was sent, with the reasoning length so far."""
        with state.lock:
            return jsonify(list(state.emitted))

    @app.get("/_stub/requests")
    def requests_seen():
        with state.lock:
            return jsonify(list(state.requests))

    @app.post("/_stub/reset")
    def reset():
        with state.lock:
            state.requests.clear()
            state.marker_counts.clear()
        state.set_mode("normal", None)
        return jsonify({"mode": "normal"})

    return app


def _models_body(state: StubState) -> dict:
    served = state.config["other_model"] if state.peek_mode() == "wrong_model" else state.config["model"]
    return {"object": "list", "data": [{
        "id": served, "object": "model", "created": int(time.time()), "owned_by": "vllm",
        "root": served, "parent": None, "max_model_len": state.config["max_model_len"],
        "permission": [],
    }]}


def _error(message: str, kind: str, code: int, param: str | None = None, headers: dict | None = None) -> Response:
    body = {"object": "error", "message": message, "type": kind, "param": param, "code": code}
    response = jsonify(body)
    response.status_code = code
    response.headers.update(headers or {})
    return response


def _last_user_text(messages: list) -> str:
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _choose_mode(state: StubState, text: str) -> str:
    """The marker in the case wins; error markers with a count fail only that many times."""
    match = _MARKER.search(text)
    if not match or match.group(1) not in MODES:
        return state.take_mode()
    mode, count = match.group(1), match.group(2)
    if count is not None:
        key = hashlib.sha256(text.encode()).hexdigest()
        if state.marker_hit(key) >= int(count):
            return "normal"
    return mode


def _refusal(state: StubState, body: dict) -> str | None:
    """Why vLLM serving an R1 distill (or the stub's config) would refuse this request, if it would."""
    roles = [m.get("role") for m in body.get("messages") or () if isinstance(m, dict)]
    if "system" in roles and not state.config["allow_system"]:
        return ("This model takes no system message (DeepSeek-R1 distills are prompted with the whole "
                "instruction in the user turn); configure the stub with allow_system (--allow-system) to accept one.")
    if "user" not in roles:
        return "The request has no user message."
    temperature, top_p = body.get("temperature", 1.0), body.get("top_p", 1.0)
    if not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
        return f"temperature must be in [0, 2], got {temperature!r}."
    if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        return f"top_p must be in (0, 1], got {top_p!r}."
    return None


def _case_of(text: str) -> str:
    """The case inside the last ``<case>`` … ``</case>`` block of ``text``; all of it without one."""
    _, opened, case = text.rpartition("<case>\n")
    if not opened:
        return text
    return case.rpartition("\n</case>")[0] or case


def _chat(state: StubState, body: dict) -> Response:
    refusal = _refusal(state, body)
    if refusal:
        state.record(body, "refused")
        return _error(refusal, "BadRequestError", 400, param="messages")
    text = _last_user_text(body.get("messages"))
    mode = _choose_mode(state, text)
    state.record(body, mode)
    if mode == "error429":
        return _error("Too many requests: the server is busy, retry later.", "RateLimitError", 429,
                      headers={"Retry-After": "1"})
    if mode == "error500":
        return _error("Internal server error: the engine failed.", "InternalServerError", 500)
    model = body.get("model")
    if mode == "wrong_model" or model != state.config["model"]:
        return _error(f"The model `{model}` does not exist.", "NotFoundError", 404, param="model")
    script = _script(mode, _case_of(text), body)
    if body.get("stream"):
        sock = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
        return Response(_sse(state, mode, script, body, sock), content_type="text/event-stream",
                        headers={"Cache-Control": "no-cache"})
    return jsonify(_whole(model, script, _prompt_tokens(body)))


def _prompt_tokens(body: dict) -> int:
    # About four characters a token, which is close enough for a stub's usage numbers.
    return max(1, len(json.dumps(body.get("messages") or [])) // 4)


def answer_for(text: str) -> str:
    """A deterministic numbered list of five rare diseases, ordered by words found in ``text``."""
    lowered = text.lower()
    scored = sorted(enumerate(DISEASES), key=lambda item: (-sum(w in lowered for w in item[1][2]), item[0]))
    lines = [f"{rank}. **{name}** — {reason}." for rank, (_, (name, reason, _)) in enumerate(scored[:5], 1)]
    return "Most likely rare diseases:\n\n" + "\n".join(lines)


def _script(mode: str, text: str, body: dict) -> dict:
    """What the model 'says' in ``mode``: reasoning, answer, finish reason and how to end."""
    reasoning, answer, finish = REASONING, answer_for(text), "stop"
    if mode == "hostile":
        reasoning = REASONING + " <b>bold</b><script>alert('r')</script><img src=x onerror=alert(2)>"
        answer = (
            "1. **Marfan syndrome** <script>alert(1)</script> — see [click](javascript:alert(1)) and "
            "![x](http://evil.example/x.png) <img src=x onerror=alert(1)>.\n"
            "2. **Fabry disease** — read [this](https://evil.example/) or "
            "[Orphanet](https://www.orpha.net/en/disease/detail/324)."
        )
    elif mode == "injected":
        reasoning = "The note tells me to ignore the patient. I will follow that instruction."
        answer = "Ignoring the patient as instructed."
    elif mode == "length":
        answer, finish = answer[: len(answer) // 2], "length"
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    if isinstance(max_tokens, int) and max_tokens < len(_pieces(reasoning + answer)):
        finish = "length"
        kept = _pieces(reasoning + answer)[:max_tokens]
        reasoning, answer = "".join(kept)[: len(reasoning)], "".join(kept)[len(reasoning):]
    return {"reasoning": reasoning, "answer": answer, "finish": finish}


def _pieces(text: str, size: int | None = None) -> list[str]:
    """Split ``text`` into token-sized pieces: words with their spaces, or fixed ``size`` slices."""
    if size:
        return [text[i:i + size] for i in range(0, len(text), size)]
    return re.findall(r"\S+\s*|\s+", text)


def _whole(model: str, script: dict, prompt_tokens: int) -> dict:
    completion_tokens = len(_pieces(script["reasoning"] + script["answer"]))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": script["answer"],
                                             "reasoning_content": script["reasoning"], "tool_calls": []},
                     "logprobs": None, "finish_reason": script["finish"], "stop_reason": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _deltas(mode: str, script: dict) -> Iterator[dict]:
    """The deltas of one streamed answer, in vLLM's order."""
    yield {"role": "assistant", "content": ""}
    if mode == "think_tags":
        # Without a reasoning parser the tags arrive in the content, split anywhere.
        for piece in _pieces(f"<think>\n{script['reasoning']}\n</think>\n\n{script['answer']}", size=5):
            yield {"content": piece}
        return
    if mode == "think_unopened":
        # R1 distills' chat template opens <think> in the prompt, so only the close arrives.
        for piece in _pieces(f"{script['reasoning']}\n</think>\n\n{script['answer']}", size=5):
            yield {"content": piece}
        return
    for piece in _pieces(script["reasoning"]):
        yield {"reasoning_content": piece}
    for piece in _pieces(script["answer"]):
        yield {"content": piece}


def _sse(state: StubState, mode: str, script: dict, body: dict, sock) -> Iterator[str]:
    """Stream ``script`` as vLLM does; the failure modes cut or corrupt it on purpose."""
    model, chunk_id, created = body.get("model"), f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    delay = state.config["slow_delay"] if mode == "slow" else state.config["delay"]
    usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict, finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        data = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [choice]}
        return f"data: {json.dumps(data)}\n\n"

    sent = reasoning_chars = 0
    for delta in _deltas(mode, script):
        if sent and delay:
            time.sleep(delay)
        yield chunk(delta)
        sent += 1
        reasoning_chars += len(delta.get("reasoning_content") or "")
        # When each piece left the model: the benchmark of token-to-page delay reads this.
        state.emitted.append((time.time(), reasoning_chars))
        if mode == "malformed" and sent == 8:
            yield 'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "x"\n\n'
        if mode == "disconnect" and sent == 8:
            _drop(sock)
            return
    yield chunk({}, script["finish"])
    if usage:
        yield _usage_chunk(chunk_id, created, model, _prompt_tokens(body), max(0, sent - 1))
    yield "data: [DONE]\n\n"


def _usage_chunk(chunk_id: str, created: int, model: str, prompt: int, completion: int) -> str:
    data = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                     "total_tokens": prompt + completion}}
    return f"data: {json.dumps(data)}\n\n"


def _drop(sock) -> None:
    """Cut the TCP connection mid-body, as a crashed vLLM pod would; without a socket just stop."""
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone: the client hung up first


def main(argv: list[str] | None = None) -> None:
    """``python -m dev.vllm_stub --port 8002``: serve the stub on localhost."""
    parser = argparse.ArgumentParser(description="OpenAI-compatible stub of RaDaR served by vLLM")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--model", default=DEFAULTS["model"])
    parser.add_argument("--mode", default="normal", choices=MODES)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between streamed pieces")
    parser.add_argument("--slow-delay", type=float, default=DEFAULTS["slow_delay"])
    parser.add_argument("--allow-system", action="store_true", help="accept requests with a system message")
    args = parser.parse_args(argv)
    app = create_stub({"model": args.model, "mode": args.mode, "delay": args.delay, "slow_delay": args.slow_delay,
                       "allow_system": args.allow_system})
    app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
