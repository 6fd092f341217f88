"""A Dagster code location for tap-mixoads: one asset per shard of the fleet.

``dagster dev -m tap_mixoads.dagster`` serves :data:`defs`, built from
environment variables; :func:`build_definitions` builds the same for a code
location of your own. Needs the optional extra: ``pip install
'tap-mixoads[dagster]'``.

Assets:

- ``mixoads_tables``: ``meltano run <extractor>--tables <loader>`` (the
  ``schema_only`` plugin): one process creates or widens the tables before
  shards load in parallel;
- ``mixoads_campaigns``: partitioned by shard, ``1-of-N`` ... ``N-of-N``.
  Partition K runs ``meltano run <extractor>--shard-K <loader>`` with that
  plugin's ``shard`` set to ``K/N`` (an environment variable, so the Meltano
  project needs only the inherited plugins, whatever N). Each shard has its
  own plugin name, so its own Meltano run files and state id
  (``<env>:<extractor>--shard-K-to-<loader>``), and Meltano's guard against
  two runs of one state id stays on (no ``--force``).

Meltano's log is streamed to Dagster's line by line as it comes; the tap's
``run report`` lines become the materialization's metadata (rows, synced,
failed, deferred, API calls, 429s, floor ratio). A failed account fails the
materialization with the tap's one error line, after the shard's other
accounts were loaded (the tap finishes them first).

Shards run at most ``pool`` at a time where the Dagster instance limits that
pool (``dagster instance concurrency set mixoads 2``, or ``concurrency:
pools:`` in ``dagster.yaml``). Processes that share a client id share its
budget only through ``shared_budget_url`` (README, "Many accounts").
"""

# No ``from __future__ import annotations`` here: Dagster reads the asset
# functions' annotations at definition time and refuses a context parameter
# annotated with a string.
import json
import os
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

#: Environment variables that configure :data:`defs`.
ENV_PROJECT_DIR = "MIXOADS_MELTANO_PROJECT_DIR"
ENV_SHARDS = "MIXOADS_SHARDS"
ENV_POOL = "MIXOADS_DAGSTER_POOL"
ENV_MELTANO = "MIXOADS_MELTANO_BIN"
#: The run report line the tap logs per account (streams.py).
RUN_REPORT = "run report: "
#: The tap's one failure line.
TAP_ERROR = "tap-mixoads: error: "
#: Longest wait for one ``meltano run`` (a shard at the vendor's pace runs
#: ~10 minutes per 100 campaigns per account; accounts run concurrently).
RUN_TIMEOUT_S = 6 * 3600


def partition_keys(shards: int) -> list[str]:
    """``1-of-N`` ... ``N-of-N``."""
    return [f"{k}-of-{shards}" for k in range(1, shards + 1)]


def _shard_of(partition_key: str) -> tuple[int, int]:
    k, _, n = partition_key.partition("-of-")
    return int(k), int(n)


def _meltano_bin() -> str:
    """``MIXOADS_MELTANO_BIN``, else meltano beside this Python, else on PATH."""
    configured = os.environ.get(ENV_MELTANO)
    if configured:
        return configured
    beside = Path(sys.executable).parent / "meltano"
    if beside.exists():
        return str(beside)
    return shutil.which("meltano") or "meltano"


def _env_prefix(plugin: str) -> str:
    """Meltano's environment variable prefix of a plugin's settings."""
    return plugin.upper().replace("-", "_") + "_"


def _summarise(reports: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    """The shard's figures, summed over its accounts' run reports."""

    def total(key: str) -> int:
        return sum(int(r.get(key) or 0) for r in reports)

    ratios = [float(r["floor_ratio"]) for r in reports if r.get("floor_ratio")]
    return {
        "accounts": len(reports),
        "rows": total("campaigns"),
        "synced": total("synced"),
        "failed": total("failed"),
        "deferred": total("deferred"),
        "api_calls": total("api_calls"),
        "rate_limited_429": total("rate_limited"),
        "floor_ratio": max(ratios) if ratios else None,
        "failed_accounts": [r["client_id"] for r in reports if r.get("status") != "ok"],
    }


def _plugin_line(raw: str) -> str:
    """The text of one line of ``meltano --log-format=json``'s output."""
    try:
        event = json.loads(raw)
    except ValueError:
        return raw.rstrip("\n")
    if isinstance(event, dict):
        return str(event.get("event", raw)).rstrip("\n")
    return raw.rstrip("\n")


def run_meltano(
    args: list[str],
    *,
    project_dir: Path,
    env: dict[str, str],
    log: t.Callable[[str], None],
) -> tuple[int, list[dict[str, t.Any]], list[str]]:
    """Run ``meltano <args>``, streaming its log; collect run reports and errors.

    Returns:
        The exit status, the tap's run reports and its error lines.
    """
    command = [_meltano_bin(), "--log-format=json", *args]
    reports: list[dict[str, t.Any]] = []
    errors: list[str] = []
    with subprocess.Popen(
        command,
        cwd=project_dir,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = _plugin_line(raw)
            log(line)
            at = line.find(RUN_REPORT)
            if at >= 0:
                try:
                    report, _ = json.JSONDecoder().raw_decode(
                        line, at + len(RUN_REPORT)
                    )
                except ValueError:
                    continue
                reports.append(report)
            at = line.find(TAP_ERROR)
            if at >= 0:
                errors.append(line[at:])
        code = proc.wait(timeout=RUN_TIMEOUT_S)
    return code, reports, errors


def build_definitions(
    *,
    project_dir: str | Path,
    shards: int,
    extractor: str = "tap-mixoads",
    loader: str = "target-postgres",
    pool: str = "mixoads",
    env: dict[str, str] | None = None,
) -> dg.Definitions:
    """The code location for one Meltano project split into ``shards`` shards.

    Args:
        project_dir: the Meltano project (with ``<extractor>--tables`` and
            ``<extractor>--shard-1`` ... ``--shard-N`` inherited plugins).
        shards: N, the number of shards (partitions).
        extractor: the tap's plugin name in the project.
        loader: the loader's plugin name.
        pool: the Dagster concurrency pool every shard takes a slot of.
        env: extra environment for every ``meltano run`` (settings, secrets).
    """
    if shards < 1:
        msg = f"{ENV_SHARDS} must be at least 1, got {shards}"
        raise ValueError(msg)
    project = Path(project_dir).resolve()
    extra_env = dict(env or {})
    partitions = dg.StaticPartitionsDefinition(partition_keys(shards))

    @dg.asset(name="mixoads_tables", group_name="mixoads", pool=pool)
    def tables(context: AssetExecutionContext) -> dg.MaterializeResult[None]:
        """Create or widen the tables in one process (no API call)."""
        code, _, errors = run_meltano(
            ["run", f"{extractor}--tables", loader],
            project_dir=project,
            env=extra_env,
            log=context.log.info,
        )
        if code != 0:
            raise dg.Failure(
                description=errors[-1] if errors else f"meltano run exited {code}"
            )
        return dg.MaterializeResult()

    @dg.asset(
        name="mixoads_campaigns",
        group_name="mixoads",
        partitions_def=partitions,
        deps=[tables],
        pool=pool,
    )
    def campaigns(context: AssetExecutionContext) -> dg.MaterializeResult[None]:
        """Campaigns, sync events and run reports of one shard's accounts."""
        k, n = _shard_of(context.partition_key)
        plugin = f"{extractor}--shard-{k}"
        shard_env = {**extra_env, f"{_env_prefix(plugin)}SHARD": f"{k}/{n}"}
        code, reports, errors = run_meltano(
            ["run", plugin, loader],
            project_dir=project,
            env=shard_env,
            log=context.log.info,
        )
        summary = _summarise(reports)
        metadata = {
            key: dg.MetadataValue.json(value) if isinstance(value, list) else value
            for key, value in summary.items()
            if value is not None
        }
        if code != 0 or summary["failed_accounts"]:
            raise dg.Failure(
                description=errors[-1] if errors else f"meltano run exited {code}",
                metadata=metadata,
            )
        return dg.MaterializeResult(metadata=metadata)

    return dg.Definitions(assets=[tables, campaigns])


def definitions_from_env() -> dg.Definitions:
    """:func:`build_definitions` from ``MIXOADS_*`` environment variables."""
    return build_definitions(
        project_dir=os.environ.get(ENV_PROJECT_DIR, "."),
        shards=int(os.environ.get(ENV_SHARDS, "1")),
        pool=os.environ.get(ENV_POOL, "mixoads"),
    )


#: The code location Dagster loads (``-m tap_mixoads.dagster``): building it
#: only reads the environment; nothing runs until a materialization.
defs = definitions_from_env()
