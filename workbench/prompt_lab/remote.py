"""Prompt-lab generations on an OpenAI-compatible endpoint: a stream for Generate, and a grid's endpoint columns
(requests in parallel up to the endpoint's concurrency limit)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from workbench.models.endpoint import EndpointSpec, Reply, chat, chat_stream, unsupported_settings
from workbench.prompt_lab.decoding import SamplingParams


def messages(prompt: str, system: str | None = None) -> list[dict]:
    """The chat the endpoint applies its own template to."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


class EndpointStream:
    """Iterate for text pieces from the endpoint; `.result` (a Generation) is set at the end."""

    def __init__(self, endpoint: EndpointSpec, prompt: str, params: SamplingParams, *, system: str | None,
                 seed: int) -> None:
        from workbench.prompt_lab.generation import EmptyPrompt

        if not prompt or not prompt.strip():
            raise EmptyPrompt("the prompt is empty", field="prompt")
        self.endpoint, self.prompt, self.params, self.system, self.seed = endpoint, prompt, params, system, seed
        self.warnings = unsupported_settings(params)
        self.result = None

    def __iter__(self) -> Iterator[str]:
        from workbench.prompt_lab.generation import Generation

        info: dict = {}
        pieces: list[str] = []
        start = time.perf_counter()
        for piece in chat_stream(self.endpoint, messages(self.prompt, self.system), self.params, self.seed, info):
            pieces.append(piece)
            yield piece
        self.result = Generation(
            prompt=self.prompt, text="".join(pieces), prompt_tokens=info.get("prompt_tokens") or 0,
            new_tokens=info.get("new_tokens") or len(pieces), seconds=time.perf_counter() - start,
            finish_reason=info.get("finish_reason", "stop"), seed=self.seed,
            params=self.params.to_dict(), warnings=list(self.warnings), endpoint=self.endpoint.label)


def stream_endpoint(endpoint: EndpointSpec, prompt: str, params: SamplingParams | None = None, *,
                    system: str | None = None, seed: int = 0) -> EndpointStream:
    """A generation on an endpoint that streams its text (the endpoint applies its chat template)."""
    return EndpointStream(endpoint, prompt, params or SamplingParams(), system=system, seed=seed)


def generate_endpoint(endpoint: EndpointSpec, prompt: str, params: SamplingParams | None = None, *,
                      system: str | None = None, seed: int = 0, on_text: Callable[[str], None] | None = None):
    """One generation on an endpoint, streamed; `on_text` gets each piece."""
    stream = stream_endpoint(endpoint, prompt, params, system=system, seed=seed)
    for piece in stream:
        if on_text:
            on_text(piece)
    return stream.result


def endpoint_replies(endpoint: EndpointSpec, prompts: list[str], jobs: list[tuple[SamplingParams, int, int]],
                     system: str | None) -> list[tuple[Reply, float]]:
    """(reply, seconds) per job (parameter set, row, seed), requests in parallel up to the endpoint's limit."""
    def one(job: tuple[SamplingParams, int, int]) -> tuple[Reply, float]:
        params, row, seed = job
        start = time.perf_counter()
        reply = chat(endpoint, messages(prompts[row], system), params, seed)
        return reply, time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=endpoint.concurrency) as pool:
        return list(pool.map(one, jobs))
