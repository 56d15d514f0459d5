"""Running a probe on the base model or an adapter, caching results in the workspace store, and the
before/after comparison of two runs."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from workbench.bias.data import ProbeDataError, file_hash
from workbench.bias.probes import PROBES, Probe, ProbeResult
from workbench.errors import InvalidSetting
from workbench.models import LoadedModel, adapters
from workbench.models.adapters import AdapterInfo
from workbench.progress import Progress, no_progress
from workbench.store import Store


@dataclass(frozen=True)
class ProbeSettings:
    """What changes a probe's numbers (batch size does not: scores are independent of it)."""

    limit: int | None = None  # occupations / pairs / prompts per group; None: all
    seed: int = 0  # which sample of pairs or prompts, and the sampling of continuations
    domain: str = "gender"  # BOLD domain
    max_new_tokens: int = 20  # BOLD continuation length

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise InvalidSetting(f"`limit` must be at least 1, got {self.limit}", field="limit")
        if not 1 <= self.max_new_tokens <= 200:
            raise InvalidSetting(f"`max_new_tokens` must be 1..200, got {self.max_new_tokens}",
                                 field="max_new_tokens")

    def for_probe(self, probe: str) -> dict:
        """Only the settings that matter to `probe`, so unrelated changes keep its cache valid."""
        declared = PROBES[probe]
        return {name: getattr(self, name) for name in declared.settings} | declared.fixed


def _adapter_fingerprint(info: AdapterInfo | None) -> str | None:
    """Name plus weight file size and time: a retrained adapter under the same name is rescored."""
    if info is None:
        return None
    weights = (info.path / "adapter_model.safetensors").stat()
    return f"{info.name}:{weights.st_size}:{weights.st_mtime_ns}"


def cache_key(model: str, adapter: str | None, probe: str, data_hash: str, settings: dict) -> str:
    payload = json.dumps([model, adapter, probe, data_hash, settings], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _model_id(loaded: LoadedModel) -> str:
    return f"{loaded.info.name}|{loaded.info.dtype}"


def _encode(result: ProbeResult) -> str:
    tables = {name: json.loads(t.to_json(orient="split", index=False)) for name, t in result.tables.items()}
    return json.dumps({"summary": result.summary, "tables": tables, "data_path": result.data_path})


def load_cached(key: str) -> ProbeResult | None:
    with Store().connect() as conn:
        row = conn.execute("SELECT * FROM bias_results WHERE cache_key = ?", (key,)).fetchone()
    if row is None:
        return None
    body = json.loads(row["result"])
    tables = {name: pd.DataFrame(t["data"], columns=t["columns"]) for name, t in body["tables"].items()}
    return ProbeResult(probe=row["probe"], model=row["model"], adapter=row["adapter"], data_path=body["data_path"],
                       data_hash=row["data_hash"], settings=json.loads(row["settings"]), summary=body["summary"],
                       tables=tables, seconds=row["seconds"], cached=True)


def _save(key: str, result: ProbeResult) -> None:
    with Store().connect() as conn:
        conn.execute("INSERT OR REPLACE INTO bias_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (key, result.model, result.adapter, result.probe, result.data_hash,
                      json.dumps(result.settings), time.time(), result.seconds, _encode(result)))


def _normalised(settings: ProbeSettings, probe: str, path: Path) -> ProbeSettings:
    """A limit covering the whole file means "all", so 60 of 60 occupations shares the cache with no limit."""
    count = PROBES[probe].rows_in_file
    if settings.limit is None or count is None:
        return settings
    return replace(settings, limit=None) if settings.limit >= count(path) else settings


def probe_named(name: str) -> Probe:
    """The registered probe, or an error that lists them."""
    if name not in PROBES:
        raise InvalidSetting(f"unknown probe {name!r}; choose one of {', '.join(PROBES)}", field="probe")
    return PROBES[name]


def _resolve(loaded: LoadedModel, probe: str, adapter, data_path, settings: ProbeSettings):
    declared = probe_named(probe)
    info = None if adapter is None else (adapter if isinstance(adapter, AdapterInfo)
                                         else adapters.read_adapter(adapter))
    path = Path(data_path).expanduser() if data_path else declared.data_file(settings)
    if not path.is_file():
        raise ProbeDataError("no such file", path=str(path))
    key = cache_key(_model_id(loaded), _adapter_fingerprint(info), probe, file_hash(path),
                    _normalised(settings, probe, path).for_probe(probe))
    return info, path, key


def cached_result(loaded: LoadedModel, probe: str, *, adapter=None, data_path=None,
                  settings: ProbeSettings = ProbeSettings()) -> ProbeResult | None:
    """The stored result for exactly these inputs, or None (never runs the model)."""
    return load_cached(_resolve(loaded, probe, adapter, data_path, settings)[2])


def run_probe(loaded: LoadedModel, probe: str, *, adapter: AdapterInfo | Path | str | None = None,
              data_path: Path | str | None = None, settings: ProbeSettings = ProbeSettings(),
              use_cache: bool = True, progress: Progress = no_progress) -> ProbeResult:
    """Run one probe on the base model (adapter None) or with one adapter active; cached in the store."""
    info, path, key = _resolve(loaded, probe, adapter, data_path, settings)
    if use_cache and (hit := load_cached(key)) is not None:
        progress(1.0, "loaded from the workspace cache")
        return hit
    start = time.perf_counter()
    with adapters.use_adapter(loaded, info) as active:
        summary, tables = PROBES[probe].run(loaded, path, settings, progress)
    result = ProbeResult(probe=probe, model=_model_id(loaded), adapter=active, data_path=str(path),
                         data_hash=file_hash(path), settings=_normalised(settings, probe, path).for_probe(probe),
                         summary=summary,
                         tables=tables, seconds=time.perf_counter() - start)
    _save(key, result)
    return result


def before_after(base: ProbeResult, tuned: ProbeResult) -> dict[str, pd.DataFrame]:
    """Before/after: every numeric headline figure and the per-group metric, with the change."""
    if base.probe != tuned.probe:
        raise InvalidSetting(f"cannot compare {base.probe} with {tuned.probe}", field="probe")
    keys = [k for k, v in base.summary.items() if isinstance(v, (int, float)) and k in tuned.summary]
    summary = pd.DataFrame({"metric": keys, "base": [base.summary[k] for k in keys],
                            "adapter": [tuned.summary[k] for k in keys]})
    summary["change"] = summary["adapter"] - summary["base"]
    table, group, metric = PROBES[base.probe].group_metric
    groups = (base.tables[table][[group, metric]].rename(columns={group: "group", metric: "base"})
              .merge(tuned.tables[table][[group, metric]].rename(columns={group: "group", metric: "adapter"}),
                     on="group", how="outer"))
    groups["change"] = groups["adapter"] - groups["base"]
    return {"summary": summary, "groups": groups.sort_values("change").reset_index(drop=True),
            "metric": pd.DataFrame({"probe": [base.probe], "metric": [metric]})}
