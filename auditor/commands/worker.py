"""`auditor worker --vantage NAME -c FILE`: a Celery worker on one vantage's queue.

The worker sweeps and probes with its own config: [ssh] credentials and known_hosts stay on
its machine, and it only touches addresses inside its own [[vantage]]'s networks. Exit codes:
0 stopped, 2 usage or config error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NoReturn

import click

from auditor.errors import ConfigError
from auditor.exitcodes import EXIT_OK, run_guarded


@click.command()
@click.option("--vantage", "vantage", required=True, help="The [[vantage]] this worker serves.")
@click.option(
    "-c", "--config", "config_path", type=click.Path(path_type=Path), default=None,
    help="The worker's own config: [engine], its [[vantage]], [ssh] credentials.",
)  # fmt: skip
@click.option(
    "--concurrency", type=click.IntRange(1, 256), default=4, show_default=True,
    help="Batches this worker probes at once (each batch: [engine] batch_size hosts).",
)  # fmt: skip
@click.option("--name", default=None, help="Worker node name (default: VANTAGE@hostname).")
def worker(vantage: str, config_path: Path | None, concurrency: int, name: str | None) -> NoReturn:
    """Run a worker for one vantage point (needs nmap and this machine's SSH keys)."""
    run_guarded(lambda: _work(vantage, config_path, concurrency, name))


def _work(vantage: str, config_path: Path | None, concurrency: int, name: str | None) -> int:
    from auditor.config import find_config, load_config
    from auditor.engine.app import WorkerContext, make_app, queue_name, serve
    from auditor.engine.limits import describe_limits
    from auditor.engine.routing import vantage_named
    from auditor.urls import shown

    path = find_config(config_path)
    config = load_config(path)
    if config.engine is None:
        raise ConfigError(f"{path}: a worker needs an [engine] section (its broker)")
    broker = config.engine.broker_url()  # a config error before anything starts
    if vantage_named(config, vantage) is None:
        known = ", ".join(v.name for v in config.vantage) or "none"
        raise ConfigError(
            f"{path}: no [[vantage]] named '{vantage}' (known: {known}); a worker only "
            "touches the networks its own config gives its vantage"
        )
    if not logging.getLogger().handlers:  # `auditor worker` logs what it does, with Celery's
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    ours = logging.getLogger("auditor")
    if ours.handlers:
        ours.propagate = False  # the CLI gave auditor's loggers a handler: not twice
    if ours.getEffectiveLevel() > logging.INFO:
        ours.setLevel(logging.INFO)  # a daemon says what it does
    context = WorkerContext(config, vantage)
    serve(context)
    app = make_app(config.engine)
    logging.getLogger(__name__).info(
        "worker %s: queue %s on %s", name or context.name, queue_name(config.engine, vantage),
        shown(broker),
    )  # fmt: skip
    logging.getLogger(__name__).info("worker %s: %s", name or context.name,
                                     describe_limits(config, vantage))  # fmt: skip
    app.worker_main(
        [
            "worker",
            "--queues", queue_name(config.engine, vantage),
            "--pool", "threads",
            "--concurrency", str(concurrency),
            "--hostname", name or context.name,
            "--without-gossip", "--without-mingle",
            "--loglevel", "INFO",
        ]
    )  # fmt: skip
    return EXIT_OK
