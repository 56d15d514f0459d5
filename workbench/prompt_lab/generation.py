"""Text generation over a LoadedModel: chat formatting, streaming generation, and batched variant grids."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from workbench.errors import InvalidSetting
from workbench.models import LoadedModel, adapters
from workbench.models.batching import left_pad, length_batches, padding_id
from workbench.models.prompts import chat_prompt, text_ids
from workbench.progress import Progress, no_progress
from workbench.prompt_lab.decoding import SamplingParams, StopFlag, generate_tokens, stop_token_ids
from workbench.prompt_lab.fast import FAST_LABEL, check_fast, quantised_copy
from workbench.prompt_lab.grid import GridSpec, render_template
from workbench.prompt_lab.token_views import logit_lens, open_step, token_probabilities  # noqa: F401  (re-exported)


class EmptyPrompt(InvalidSetting):
    """The prompt is empty or only whitespace."""


@dataclass(frozen=True)
class Generation:
    prompt: str        # the text the model saw (chat template applied when asked)
    text: str          # the new text only
    prompt_tokens: int
    new_tokens: int
    seconds: float
    prompt_ids: list[int] = field(default_factory=list, repr=False)
    token_ids: list[int] = field(default_factory=list, repr=False)  # the new tokens, stop token included
    finish_reason: str = "length"  # length | stop
    seed: int = 0
    params: dict = field(default_factory=dict)
    adapter: str | None = None
    warnings: list[str] = field(default_factory=list)
    approximate: str | None = None  # how a fast mode approximated the model; None: the exact model
    endpoint: str | None = None     # the OpenAI-compatible endpoint that answered; None: the local model


def format_prompt(loaded: LoadedModel, user: str, *, chat: bool = False, system: str | None = None) -> str:
    """The text the model reads: `user` as is, or wrapped in the tokenizer's chat template."""
    if not user or not user.strip():
        raise EmptyPrompt("the prompt is empty", field="prompt")
    return chat_prompt(loaded, user, system=system) if chat else user


def resolve_adapter(adapter):
    """An adapter given by registry name, folder or AdapterInfo -> what `use_adapter` takes (None: the base)."""
    if adapter is None or isinstance(adapter, adapters.AdapterInfo):
        return adapter
    return adapters.resolve(adapter)


def _require_causal(loaded: LoadedModel) -> None:
    if loaded.kind != "causal":
        raise InvalidSetting(f"{loaded.info.name} is an {loaded.kind} model and cannot generate text",
                             field="model")


def encode_prompt(loaded: LoadedModel, text: str, *, chat: bool, max_new_tokens: int) -> tuple[list[int], list[str]]:
    """Token ids of a formatted prompt, cut on the left to fit the context with room for the new tokens."""
    ids = text_ids(loaded.tokenizer, text, prefix=[] if chat else None)
    room = loaded.info.context_length - max_new_tokens if loaded.info.context_length else len(ids)
    if room < 1:
        raise InvalidSetting(f"`max_new_tokens` ({max_new_tokens}) leaves no room in the "
                             f"{loaded.info.context_length}-token context", field="max_new_tokens")
    if len(ids) <= room:
        return ids, []
    warning = (f"the prompt has {len(ids)} tokens; kept the last {room} so that {max_new_tokens} new tokens "
               f"fit the {loaded.info.context_length}-token context")
    return ids[-room:], [warning]


def generate_greedy(loaded: LoadedModel, prompt: str, *, max_new_tokens: int = 64, chat: bool = False,
                    system: str | None = None) -> Generation:
    """Greedy continuation of one prompt with transformers' own `generate`; the reference ours is checked against."""
    _require_causal(loaded)
    if max_new_tokens < 1:
        raise InvalidSetting(f"`max_new_tokens` must be at least 1, got {max_new_tokens}", field="max_new_tokens")
    text = format_prompt(loaded, prompt, chat=chat, system=system)
    tok = loaded.tokenizer
    ids = text_ids(tok, text, prefix=[] if chat else None)
    input_ids = torch.tensor([ids], device=loaded.device)  # (1, P)
    start = time.perf_counter()
    with loaded.lock, torch.inference_mode():
        out = loaded.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                    max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    new = out[0, len(ids):]
    return Generation(prompt=text, text=tok.decode(new, skip_special_tokens=True), prompt_tokens=len(ids),
                      new_tokens=int(new.shape[0]), seconds=time.perf_counter() - start, prompt_ids=ids,
                      token_ids=new.tolist())


class _TokenQueue:
    """A transformers streamer: new token ids onto a queue (the prompt, pushed first, is skipped); None at the end."""

    def __init__(self) -> None:
        import queue

        self.queue: queue.Queue = queue.Queue()
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if self.prompt_seen:
            self.queue.put(int(value.reshape(-1)[0]))
        self.prompt_seen = True

    def end(self) -> None:
        self.queue.put(None)


class GenerationStream:
    """Iterate to get text pieces as they are decoded (for `st.write_stream`); `.result` is set at the end.

    `generate` runs in a worker thread that takes and releases the model lock itself; the iterator never holds
    it, and closing the iterator (from any thread) stops the worker after the current token and waits for it.
    """

    def __init__(self, loaded: LoadedModel, prompt: str, params: SamplingParams, *, chat: bool,
                 system: str | None, seed: int, adapter, fast: bool = False) -> None:
        _require_causal(loaded)
        self.loaded, self.params, self.seed, self.fast = loaded, params, seed, fast
        if fast:
            check_fast(loaded, adapter)
        self.adapter = resolve_adapter(adapter)
        self.text = format_prompt(loaded, prompt, chat=chat, system=system)
        self.prompt_ids, self.warnings = encode_prompt(loaded, self.text, chat=chat,
                                                       max_new_tokens=params.max_new_tokens)
        self.result: Generation | None = None
        self.active: str | None = None
        self.error: BaseException | None = None

    def _work(self, tokens: _TokenQueue, stop: StopFlag) -> None:
        """The worker thread: generate under the lock, tokens onto the queue, any error kept for the reader."""
        ids, mask = left_pad([self.prompt_ids], padding_id(self.loaded.tokenizer))
        try:
            with adapters.use_adapter(self.loaded, self.adapter) as self.active:
                model = quantised_copy(self.loaded) if self.fast else None
                generate_tokens(self.loaded, ids, mask, self.params, [self.seed], model=model, streamer=tokens,
                                stop=stop)
        except BaseException as err:  # handed to the reading thread, raised there
            self.error = err
        finally:
            tokens.queue.put(None)

    def __iter__(self) -> Iterator[str]:
        import threading

        tok = self.loaded.tokenizer
        tokens, stop = _TokenQueue(), StopFlag()
        worker = threading.Thread(target=self._work, args=(tokens, stop), daemon=True, name="workbench-generate")
        new: list[int] = []
        shown = ""
        start = time.perf_counter()
        worker.start()
        try:
            while (token := tokens.queue.get()) is not None:
                new.append(token)
                text = tok.decode(new, skip_special_tokens=True)
                if not text.endswith("\ufffd") and text.startswith(shown):  # hold back half a UTF-8 character
                    piece, shown = text[len(shown):], text
                    if piece:
                        yield piece
        finally:
            stop.set()
            worker.join()
        if self.error is not None:
            raise self.error
        new = _until_stop(self.loaded, new)
        text = tok.decode(new, skip_special_tokens=True)
        if text.startswith(shown) and len(text) > len(shown):
            yield text[len(shown):]
        self.result = Generation(
            prompt=self.text, text=text, prompt_tokens=len(self.prompt_ids), new_tokens=len(new),
            seconds=time.perf_counter() - start, prompt_ids=list(self.prompt_ids), token_ids=new,
            finish_reason=_finish_reason(self.loaded, new), seed=self.seed, params=self.params.to_dict(),
            adapter=self.active, warnings=list(self.warnings), approximate=FAST_LABEL if self.fast else None)


def _until_stop(loaded: LoadedModel, new: list[int]) -> list[int]:
    """New tokens up to and including the first stop token."""
    stops = stop_token_ids(loaded)
    return new[:next((k + 1 for k, t in enumerate(new) if t in stops), len(new))]


def _finish_reason(loaded: LoadedModel, new: list[int]) -> str:
    return "stop" if new and new[-1] in stop_token_ids(loaded) else "length"


def stream_generation(loaded: LoadedModel, prompt: str, params: SamplingParams | None = None, *,
                      chat: bool = False, system: str | None = None, seed: int = 0, adapter=None,
                      fast: bool = False) -> GenerationStream:
    """A generation that streams its text; validates the prompt at once, runs when iterated.

    `fast`: an int8 copy of the base model (CPU), labelled approximate."""
    return GenerationStream(loaded, prompt, params or SamplingParams(), chat=chat, system=system, seed=seed,
                            adapter=adapter, fast=fast)


def generate(loaded: LoadedModel, prompt: str, params: SamplingParams | None = None, *, chat: bool = False,
             system: str | None = None, seed: int = 0, adapter=None, fast: bool = False,
             on_text: Callable[[str], None] | None = None) -> Generation:
    """Generate one continuation; `on_text` gets each piece of text as it is produced."""
    stream = stream_generation(loaded, prompt, params, chat=chat, system=system, seed=seed, adapter=adapter,
                               fast=fast)
    for piece in stream:
        if on_text:
            on_text(piece)
    return stream.result


# ---- variant grids ----

@dataclass(frozen=True)
class Cell:
    """One output of a grid: which adapter, parameter set, variable row and repeat produced it."""

    adapter: str | None
    params: str          # the parameter set's label
    row: int             # index into the spec's variable rows
    variables: dict
    repeat: int
    seed: int
    prompt: str          # the text the model saw
    text: str
    prompt_tokens: int
    new_tokens: int
    finish_reason: str
    seconds: float       # this cell's share of its batch's time
    approximate: str | None = None  # the fast mode's label; None: the exact model
    endpoint: str | None = None     # the endpoint column's label; None: a local model or adapter


@dataclass(frozen=True)
class GridResult:
    cells: list[Cell]
    seconds: float
    batches: int
    warnings: list[str] = field(default_factory=list)
    approximate: str | None = None  # the fast mode's label; None: the exact model


def generate_grid(loaded: LoadedModel, spec: GridSpec, *, progress: Progress = no_progress) -> GridResult:
    """Every adapter x parameter set x variable row x repeat, decoded in left-padded, length-bucketed batches.

    Greedy repeats are decoded once (they are identical by construction); sampled repeat r uses seed + r.
    """
    _require_causal(loaded)
    for adapter in spec.adapters if spec.fast else ():
        check_fast(loaded, adapter)
    prompts = [format_prompt(loaded, render_template(spec.template, row, row_index=i), chat=spec.chat,
                             system=spec.system) for i, row in enumerate(spec.rows)]
    jobs = [(a, p, i, r) for a in spec.adapters for p in spec.param_sets for i in range(len(prompts))
            for r in range(1 if p.greedy else spec.repeats)]
    total, finished, warnings, batches = len(jobs), 0, [], 0
    outputs: dict[tuple, tuple] = {}
    start = time.perf_counter()
    for adapter in spec.adapters:
        with adapters.use_adapter(loaded, resolve_adapter(adapter)) as active:
            for params in spec.param_sets:
                encoded = []
                for i, text in enumerate(prompts):
                    ids, warn = encode_prompt(loaded, text, chat=spec.chat, max_new_tokens=params.max_new_tokens)
                    warnings += [f"row {i}: {w}" for w in warn]
                    encoded.append(ids)
                todo = [(i, r) for (a, p, i, r) in jobs if a == adapter and p == params]
                # length buckets: little padding per batch
                for batch in length_batches([len(encoded[i]) for i, _ in todo], spec.batch_size):
                    chunk = [todo[j] for j in batch]
                    progress(finished / total, f"{active or adapters.BASE_CHOICE} · {params.label}: "
                                               f"cells {finished + 1}-{finished + len(chunk)} of {total}")
                    texts = _run_batch(loaded, [encoded[i] for i, _ in chunk],
                                       [spec.seed + r for _, r in chunk], params, fast=spec.fast)
                    for (i, r), out in zip(chunk, texts):
                        outputs[(adapter, params, i, r)] = (*out, len(encoded[i]), active)
                    finished += len(chunk)
                    batches += 1
    cells = _cells(spec, prompts, outputs) + _endpoint_cells(spec, progress)
    progress(1.0, f"{len(cells)} cells in {batches} local batches and {len(spec.endpoints)} endpoint columns")
    return GridResult(cells, time.perf_counter() - start, batches, warnings,
                      approximate=FAST_LABEL if spec.fast else None)


def _endpoint_cells(spec: GridSpec, progress: Progress) -> list[Cell]:
    """The grid's endpoint columns: every parameter set x row x repeat (greedy once), asked in parallel."""
    from workbench.prompt_lab.remote import endpoint_replies

    texts = [render_template(spec.template, row, row_index=i) for i, row in enumerate(spec.rows)]
    cells = []
    for endpoint in spec.endpoints:
        progress(0.99, f"endpoint {endpoint.label}")
        jobs = [(p, i, r) for p in spec.param_sets for i in range(len(texts))
                for r in range(1 if p.greedy else spec.repeats)]
        replies = endpoint_replies(endpoint, texts, [(p, i, spec.seed + r) for p, i, r in jobs], spec.system)
        done = {(p, i, r): out for (p, i, r), out in zip(jobs, replies)}
        for p in spec.param_sets:
            for i, text in enumerate(texts):
                for r in range(spec.repeats):
                    reply, seconds = done[(p, i, 0 if p.greedy else r)]
                    cells.append(Cell(adapter=None, params=p.label, row=i, variables=dict(spec.rows[i]), repeat=r,
                                      seed=spec.seed + r, prompt=text, text=reply.text,
                                      prompt_tokens=reply.prompt_tokens or 0, new_tokens=reply.new_tokens or 0,
                                      finish_reason=reply.finish_reason, seconds=seconds, endpoint=endpoint.label))
    return cells


def _run_batch(loaded: LoadedModel, sequences: list[list[int]], seeds: list[int], params: SamplingParams,
               *, fast: bool) -> list[tuple[str, int, str, float]]:
    """Decode one left-padded batch; (text, new tokens, finish reason, seconds per cell) per row."""
    tok = loaded.tokenizer
    ids, mask = left_pad(sequences, padding_id(tok))
    begin = time.perf_counter()
    with loaded.lock:
        model = quantised_copy(loaded) if fast else None
        new = generate_tokens(loaded, ids, mask, params, seeds, model=model).tolist()  # (B, N)
    seconds = (time.perf_counter() - begin) / len(sequences)
    results = []
    for row in new:
        row = _until_stop(loaded, row)
        results.append((tok.decode(row, skip_special_tokens=True), len(row), _finish_reason(loaded, row), seconds))
    return results


def _cells(spec: GridSpec, prompts: list[str], outputs: dict) -> list[Cell]:
    """Outputs in spec order, greedy results repeated for every requested repeat."""
    cells = []
    for adapter in spec.adapters:
        for params in spec.param_sets:
            for i, prompt in enumerate(prompts):
                for r in range(spec.repeats):
                    out = outputs.get((adapter, params, i, 0 if params.greedy else r))
                    if out is None:
                        continue
                    text, n_new, reason, seconds, n_prompt, active = out
                    cells.append(Cell(adapter=active, params=params.label, row=i, variables=dict(spec.rows[i]),
                                      repeat=r, seed=spec.seed + r, prompt=prompt, text=text,
                                      prompt_tokens=n_prompt, new_tokens=n_new, finish_reason=reason,
                                      seconds=seconds, approximate=FAST_LABEL if spec.fast else None))
    return cells
