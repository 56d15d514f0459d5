"""OpenAI-compatible endpoints as models: a base URL, a model name, and the NAME of the environment variable that
holds the API key (its value is read at request time and never stored). Chat completions through the official
`openai` client, with its retries and backoff, a concurrency limit per endpoint, and errors that say what to fix."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from urllib.parse import urlparse

from workbench.errors import InvalidSetting, WorkbenchError


class EndpointError(WorkbenchError):
    """An endpoint could not be reached or answered with an error."""


@dataclass(frozen=True)
class EndpointSpec:
    """Where a hosted or local OpenAI-compatible model lives."""

    base_url: str = field(metadata={"help": "Server URL up to /v1, e.g. http://127.0.0.1:8000/v1."})
    model: str = field(metadata={"help": "Model name the server knows."})
    api_key_env: str | None = field(default=None, metadata={
        "help": "Name of the environment variable holding the API key (never the key itself); none: no key."})
    name: str = field(default="", metadata={"help": "Column label; default model@host."})
    timeout: float = field(default=120.0, metadata={"help": "Seconds to wait for a reply (1..3600)."})
    max_retries: int = field(default=3, metadata={"help": "Retries with backoff on rate limits and 5xx (0..10)."})
    concurrency: int = field(default=4, metadata={"help": "Requests in flight at most to this endpoint (1..64)."})

    def __post_init__(self) -> None:
        url = urlparse(self.base_url if isinstance(self.base_url, str) else "")
        checks = [("base_url", url.scheme in ("http", "https") and bool(url.netloc), "an http(s) URL"),
                  ("model", isinstance(self.model, str) and bool(self.model.strip()), "a model name"),
                  ("api_key_env", self.api_key_env is None or (isinstance(self.api_key_env, str)
                                                               and self.api_key_env.isidentifier()),
                   "the name of an environment variable (letters, digits, _), not the key itself"),
                  ("timeout", isinstance(self.timeout, (int, float)) and 1 <= self.timeout <= 3600, "1..3600 s"),
                  ("max_retries", isinstance(self.max_retries, int) and 0 <= self.max_retries <= 10, "0..10"),
                  ("concurrency", isinstance(self.concurrency, int) and 1 <= self.concurrency <= 64, "1..64")]
        for name, ok, expected in checks:
            if not ok:
                raise InvalidSetting(f"endpoint `{name}` must be {expected}, got {getattr(self, name)!r}",
                                     field=name)

    @property
    def label(self) -> str:
        return self.name or f"{self.model}@{urlparse(self.base_url).netloc}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data, *, path: str | None = None) -> EndpointSpec:
        """From plain values (a grid spec, a stored run); errors name the field and the file."""
        if not isinstance(data, dict):
            raise InvalidSetting("an endpoint must be a mapping with base_url and model", path=path,
                                 field="endpoints")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise InvalidSetting(f"unknown endpoint field `{unknown[0]}`", path=path, field=unknown[0])
        try:
            return cls(**data)
        except TypeError as err:
            raise InvalidSetting(f"an endpoint needs base_url and model ({err})", path=path,
                                 field="endpoints") from err


@dataclass(frozen=True)
class Reply:
    """One chat completion."""

    text: str
    finish_reason: str       # stop | length | ...
    prompt_tokens: int | None
    new_tokens: int | None


@dataclass(frozen=True)
class Greedy:
    """Greedy decoding in the OpenAI API's terms: what evaluation asks an endpoint for."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0


_limits: dict[str, threading.BoundedSemaphore] = {}
_limits_lock = threading.Lock()


def _limit(spec: EndpointSpec) -> threading.BoundedSemaphore:
    """One semaphore per base URL: at most `concurrency` requests in flight to it from this process."""
    with _limits_lock:
        return _limits.setdefault(spec.base_url, threading.BoundedSemaphore(spec.concurrency))


def _client(spec: EndpointSpec):
    import openai

    key = "none"
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env, "")
        if not key:
            raise EndpointError(f"the environment variable {spec.api_key_env} holding the API key for "
                                f"{spec.label} is not set", field="api_key_env")
    return openai.OpenAI(base_url=spec.base_url, api_key=key, timeout=spec.timeout, max_retries=spec.max_retries)


def _explain(spec: EndpointSpec, err: Exception) -> EndpointError:
    """An openai error as a message that says what happened and what to check."""
    import openai

    status = getattr(err, "status_code", None)
    where = f"{spec.label} ({spec.base_url})"
    if isinstance(err, openai.APITimeoutError):
        return EndpointError(f"{where} did not answer within {spec.timeout:g} s", field="timeout")
    if isinstance(err, openai.APIConnectionError):
        return EndpointError(f"cannot connect to {where}: is the server running and the URL right?",
                             field="base_url")
    if isinstance(err, openai.AuthenticationError):
        return EndpointError(f"{where} refused the API key (401): check {spec.api_key_env or 'the key variable'}",
                             field="api_key_env")
    if isinstance(err, openai.NotFoundError):
        return EndpointError(f"{where} has no model `{spec.model}` (404)", field="model")
    if isinstance(err, openai.RateLimitError):
        return EndpointError(f"{where} is rate limiting (429) after {spec.max_retries} retries with backoff; "
                             "wait, or lower the concurrency", field="concurrency")
    if isinstance(err, openai.APIStatusError) and status in (400, 422):
        return EndpointError(f"{where} rejected the request for model `{spec.model}` (HTTP {status}): is that a "
                             f"model this server serves? ({_detail(err)})", field="model")
    if isinstance(err, openai.APIStatusError):
        return EndpointError(f"{where} answered HTTP {status} for model `{spec.model}`: {_detail(err)}")
    return EndpointError(f"{where} sent a malformed response: {err}")


def _detail(err: Exception) -> str:
    """The server's own error message, short."""
    body = getattr(err, "body", None)
    message = body.get("message") if isinstance(body, dict) else body if isinstance(body, str) else None
    return str(message or getattr(err, "message", err))[:300]


def _request(spec: EndpointSpec, messages: list[dict], params, seed: int, *, stream: bool) -> dict:
    args = {"model": spec.model, "messages": messages, "max_tokens": params.max_new_tokens,
            "temperature": params.temperature, "seed": seed, "stream": stream}
    if params.top_p < 1:
        args["top_p"] = params.top_p
    return args


def chat(spec: EndpointSpec, messages: list[dict], params, seed: int = 0) -> Reply:
    """One chat completion, waited for; `params` is a prompt-lab SamplingParams."""
    import openai

    with _limit(spec):
        try:
            response = _client(spec).chat.completions.create(**_request(spec, messages, params, seed, stream=False))
            choice = response.choices[0]
            usage = response.usage
            return Reply(text=choice.message.content or "", finish_reason=choice.finish_reason or "stop",
                         prompt_tokens=getattr(usage, "prompt_tokens", None),
                         new_tokens=getattr(usage, "completion_tokens", None))
        except openai.OpenAIError as err:
            raise _explain(spec, err) from err
        except (AttributeError, IndexError, TypeError) as err:
            raise _explain(spec, err) from err


def chat_stream(spec: EndpointSpec, messages: list[dict], params, seed: int = 0,
                info: dict | None = None) -> Iterator[str]:
    """Text pieces of one streamed chat completion; `info` gets finish_reason, prompt_tokens and new_tokens
    (the token counts when the server reports usage)."""
    import openai

    info = {} if info is None else info
    request = {**_request(spec, messages, params, seed, stream=True), "stream_options": {"include_usage": True}}
    with _limit(spec):
        try:
            chunks = _client(spec).chat.completions.create(**request)
            with chunks:
                for chunk in chunks:
                    if chunk.usage is not None:
                        info.update(prompt_tokens=chunk.usage.prompt_tokens,
                                    new_tokens=chunk.usage.completion_tokens)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if choice.delta is not None and choice.delta.content:
                        yield choice.delta.content
                    if choice.finish_reason:
                        info["finish_reason"] = choice.finish_reason
        except openai.OpenAIError as err:
            raise _explain(spec, err) from err
        except (AttributeError, IndexError, TypeError) as err:
            raise _explain(spec, err) from err


def unsupported_settings(params) -> list[str]:
    """Warnings for sampling settings the OpenAI chat API has no field for (they are not sent)."""
    return [f"{name} is not part of the OpenAI API; the endpoint ignores it" for name, on in
            (("top-k", params.top_k > 0), ("repetition penalty", params.repetition_penalty != 1)) if on]
