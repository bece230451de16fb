"""The RaDaR client: one typed call to an OpenAI-compatible server (vLLM in production).

``complete(settings, case_text)`` streams the model's reasoning and answer, retrying only
before the first piece arrives, and returns a ``Completion`` or raises ``InferenceError``
whose ``message`` is safe to show. ``check_service`` is the start-up check that the model is
served. Neither the case text nor the model's output is ever logged: they carry PHI.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import openai

from ..config.model import CASE_CLOSE, CASE_OPEN, ModelSettings

log = logging.getLogger(__name__)

KINDS = ("unavailable", "rate_limited", "server_error", "disconnected", "malformed", "wrong_model",
         "cancelled", "incomplete")
_MESSAGES = {
    "unavailable": "The RaDaR service could not be reached.",
    "rate_limited": "The RaDaR service is busy; try again shortly.",
    "server_error": "The RaDaR service reported an error.",
    "disconnected": "The connection to the RaDaR service was lost before the answer was complete.",
    "malformed": "The RaDaR service sent a response that could not be read.",
    "wrong_model": "The RaDaR service does not serve the configured model.",
    "cancelled": "The analysis was cancelled.",
    "incomplete": "The RaDaR model stopped before finishing its answer.",
}
_RETRYABLE = {"unavailable", "rate_limited", "server_error", "disconnected"}
_MAX_RETRY_AFTER = 10.0  # seconds; a longer Retry-After is capped so a job never hangs on it
_CHECK_TIMEOUT = 5.0


@dataclass
class Completion:
    """The model's whole answer: its reasoning, the visible content and how it ended."""

    reasoning: str
    content: str
    finish_reason: str | None
    model: str
    usage: dict | None

    @property
    def truncated(self) -> bool:
        """True when the model hit ``max_tokens``: the answer may lack its last diagnoses."""
        return self.finish_reason == "length"


class InferenceError(Exception):
    """Inference failed. ``message`` is safe to show (no PHI); ``retryable`` says whether to try later."""

    def __init__(self, kind: str, message: str | None = None, *, retryable: bool | None = None,
                 retry_after: float | None = None):
        self.kind = kind
        self.message = message or _MESSAGES[kind]
        self.retryable = kind in _RETRYABLE if retryable is None else retryable
        self.retry_after = retry_after
        super().__init__(self.message)


@dataclass(frozen=True)
class StreamEnd:
    """How a stream ended: the finish reason, token usage when reported, the model that answered."""

    finish_reason: str
    usage: dict | None
    model: str


@dataclass(frozen=True)
class ServiceStatus:
    """The outcome of the start-up check: is the configured model served, and if not why."""

    ok: bool
    detail: str
    served: tuple[str, ...] = ()
    max_model_len: int | None = None


def _client(settings: ModelSettings, timeout: openai.Timeout | None = None) -> openai.OpenAI:
    timeout = timeout or openai.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    # Retries are ours: the library's would silently restart a stream already half shown.
    return openai.OpenAI(base_url=settings.url, api_key=settings.api_key, timeout=timeout, max_retries=0)


def check_service(settings: ModelSettings) -> ServiceStatus:
    """Ask ``{url}/models`` (short timeout) whether ``settings.model`` is served."""
    timeout = openai.Timeout(min(_CHECK_TIMEOUT, settings.read_timeout), connect=settings.connect_timeout)
    try:
        with _client(settings, timeout) as client:
            models = list(client.models.list())
    except openai.APIStatusError as err:
        return ServiceStatus(False, f"HTTP {err.status_code} from {settings.url}/models")
    except openai.APIConnectionError:
        return ServiceStatus(False, f"unreachable: {settings.url}")
    except ValueError:
        return ServiceStatus(False, f"unreadable model list from {settings.url}/models")
    served = tuple(m.id for m in models)
    if settings.model not in served:
        return ServiceStatus(False, f"model {settings.model} not served; served: {', '.join(served) or 'none'}", served)
    max_len = next((getattr(m, "max_model_len", None) for m in models if m.id == settings.model), None)
    return ServiceStatus(True, f"model {settings.model} served", served, max_len)


def prompt_messages(settings: ModelSettings, case_text: str) -> list[dict]:
    """The chat messages for one case: by default one user message, the instruction then the case.

    The DeepSeek-R1 distills RaDaR comes from are documented to take no system prompt, so the
    instruction goes in the user turn unless ``prompt_placement`` is "system". Either way the
    case sits between a ``<case>`` and a ``</case>`` line that its own text cannot reproduce.
    """
    case = f"{CASE_OPEN}\n{_MARKER.sub(_defuse, case_text.strip())}\n{CASE_CLOSE}"
    if settings.prompt_placement == "system":
        return [{"role": "system", "content": settings.instruction}, {"role": "user", "content": case}]
    return [{"role": "user", "content": f"{settings.instruction}\n\n{case}"}]


# <case> or </case> as the narrative might spell them (any case, spaces, full-width brackets).
_MARKER = re.compile(r"[<\uff1c\ufe64]\s*(/?)\s*case\s*[>\uff1e\ufe65]", re.IGNORECASE)


def _defuse(match: re.Match) -> str:
    """A delimiter inside the case, kept readable but unable to end (or restart) the case block."""
    return f"[{match[1]}case]"


def stream(settings: ModelSettings, case_text: str, *,
           cancelled: Callable[[], bool] = lambda: False) -> Generator[tuple[str, str], None, StreamEnd]:
    """Yield ``("reasoning", text)`` and ``("content", text)`` pieces as they arrive, in order.

    Retries (with backoff, honouring ``Retry-After``) only while nothing has been yielded; a
    failure after that raises ``InferenceError``, as does a stream cut before its finish
    reason. The generator's return value (``StopIteration.value``) is a ``StreamEnd``.
    """
    for attempt in range(settings.retries + 1):
        yielded = False
        try:
            pieces = _attempt(settings, case_text, cancelled)
            try:
                while True:
                    try:
                        piece = next(pieces)
                    except StopIteration as stop:
                        return stop.value
                    yielded = True
                    yield piece
            finally:
                pieces.close()  # a consumer that stops early must not leave the HTTP stream open
        except InferenceError as err:
            if yielded or not err.retryable or attempt == settings.retries:
                log.warning("inference.failed model=%s kind=%s attempt=%d", settings.model, err.kind, attempt + 1)
                raise
            wait = _wait(settings, attempt, err)
            log.info("inference.retry model=%s kind=%s attempt=%d wait=%.2fs", settings.model, err.kind, attempt + 1, wait)
            _sleep(wait, cancelled)


def _wait(settings: ModelSettings, attempt: int, err: InferenceError) -> float:
    backoff = settings.backoff * 2 ** attempt
    if err.retry_after is not None:
        return min(max(err.retry_after, backoff), _MAX_RETRY_AFTER)
    return backoff


def _sleep(seconds: float, cancelled: Callable[[], bool]) -> None:
    """Sleep in short steps so a cancel during a backoff is noticed promptly."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if cancelled():
            raise InferenceError("cancelled")
        time.sleep(min(left, 0.1))


def _attempt(settings: ModelSettings, case_text: str,
             cancelled: Callable[[], bool]) -> Generator[tuple[str, str], None, StreamEnd]:
    """One request: open the stream, translate its chunks and its failures."""
    if cancelled():
        raise InferenceError("cancelled")
    started = time.perf_counter()
    log.info("inference.start model=%s", settings.model)
    with _client(settings) as client:
        try:
            chunks = client.chat.completions.create(
                model=settings.model, messages=prompt_messages(settings, case_text), stream=True,
                stream_options={"include_usage": True}, temperature=settings.temperature,
                top_p=settings.top_p, max_tokens=settings.max_tokens,
            )
        except openai.APIError as err:
            raise _translate(err) from None
        with chunks:
            return (yield from _read(chunks, cancelled, started, settings.model))


def _read(chunks, cancelled: Callable[[], bool], started: float,
          model: str) -> Generator[tuple[str, str], None, StreamEnd]:
    splitter, finish, usage, served = ThinkSplitter(), None, None, model
    try:
        for chunk in chunks:
            if cancelled():
                raise InferenceError("cancelled")
            usage = _usage(chunk) or usage
            served = chunk.model or served
            for choice in chunk.choices or ():
                yield from _pieces(choice.delta, splitter)
                finish = choice.finish_reason or finish
    except openai.APIError as err:
        raise _translate(err, streaming=True) from None
    except ValueError:
        raise InferenceError("malformed") from None
    yield from splitter.flush()
    if finish is None:
        raise InferenceError("disconnected")
    log.info("inference.done model=%s finish=%s seconds=%.2f completion_tokens=%s", model, finish,
             time.perf_counter() - started, (usage or {}).get("completion_tokens"))
    return StreamEnd(finish, usage, served)


def _usage(chunk) -> dict | None:
    usage = getattr(chunk, "usage", None)
    if usage is None:
        return None
    return {k: getattr(usage, k, None) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _pieces(delta, splitter: ThinkSplitter) -> Iterator[tuple[str, str]]:
    if delta is None:
        return
    # vLLM's reasoning parser puts it in reasoning_content (reasoning from 0.9 on): both are extras.
    reasoning = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
    if reasoning:
        yield "reasoning", reasoning
    if delta.content:
        yield from splitter.feed(delta.content)


def _translate(err: openai.APIError, *, streaming: bool = False) -> InferenceError:
    """Map the library's errors to our kinds; never carry the server's text (it may echo the case)."""
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        if status == 429:
            return InferenceError("rate_limited", retry_after=_retry_after(err.response.headers))
        if status == 404:
            return InferenceError("wrong_model")
        if status >= 500:
            return InferenceError("server_error", f"The RaDaR service reported an error (HTTP {status}).")
        return InferenceError("server_error", f"The RaDaR service refused the request (HTTP {status}).",
                              retryable=False)
    if isinstance(err, openai.APIConnectionError):
        return InferenceError("disconnected" if streaming else "unavailable")
    return InferenceError("server_error")  # an error event inside the stream


def _retry_after(headers) -> float | None:
    try:
        return float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


class ThinkSplitter:
    """Route ``<think>…</think>`` inside streamed content to reasoning, even when a tag is split."""

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self):
        self.inside = False
        self.buffer = ""

    def feed(self, text: str) -> Iterator[tuple[str, str]]:
        """Take the next content delta; yield the pieces that are certain so far."""
        self.buffer += text
        while True:
            tag = self.CLOSE if self.inside else self.OPEN
            kind = "reasoning" if self.inside else "content"
            at = self.buffer.find(tag)
            if at < 0:
                break
            if at:
                yield kind, self.buffer[:at]
            self.buffer = self.buffer[at + len(tag):]
            self.inside = not self.inside
        keep = _partial_suffix(self.buffer, self.CLOSE if self.inside else self.OPEN)
        ready, self.buffer = self.buffer[:len(self.buffer) - keep], self.buffer[len(self.buffer) - keep:]
        if ready:
            yield ("reasoning" if self.inside else "content"), ready

    def flush(self) -> Iterator[tuple[str, str]]:
        """Yield what was held back waiting for a tag that never completed."""
        if self.buffer:
            yield ("reasoning" if self.inside else "content"), self.buffer
            self.buffer = ""


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that could be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def complete(settings: ModelSettings, case_text: str, *,
             on_piece: Callable[[str, str], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> Completion:
    """Run ``stream`` to its end and return the whole ``Completion``.

    ``on_piece(kind, text)`` sees each reasoning/content piece as it arrives. A stream cut
    before a finish reason raises ``InferenceError``; ``finish_reason == "length"`` is returned
    (``Completion.truncated``) so the caller can label the partial answer; any other reason
    than stop or length raises ``InferenceError("incomplete")``.
    """
    parts: dict[str, list[str]] = {"reasoning": [], "content": []}
    pieces = stream(settings, case_text, cancelled=cancelled or (lambda: False))
    while True:
        try:
            kind, text = next(pieces)
        except StopIteration as stop:
            end: StreamEnd = stop.value
            break
        parts[kind].append(text)
        if on_piece is not None:
            on_piece(kind, text)
    if end.finish_reason not in ("stop", "length"):
        raise InferenceError("incomplete")
    reasoning, content = _split_unopened_think("".join(parts["reasoning"]), "".join(parts["content"]))
    return Completion(reasoning.strip(), content.strip(), end.finish_reason, end.model, end.usage)


def _split_unopened_think(reasoning: str, content: str) -> tuple[str, str]:
    # R1 distills' chat template opens <think> in the prompt, so a server without a reasoning
    # parser may send only the closing tag: everything before it was reasoning.
    if ThinkSplitter.CLOSE in content and ThinkSplitter.OPEN not in content:
        before, _, after = content.partition(ThinkSplitter.CLOSE)
        return reasoning + before, after
    return reasoning, content
