"""Run a list of ``(input, output)`` pairs through :class:`StylizeWorker` actors on a Ray cluster.

Ray Data does the scheduling: an actor pool (one model load per actor), backpressure, and retries
of system failures (a dead actor is restarted and its batch run again; a dead node's work moves to
the others). Bad inputs come back as rows with ``status == "failed"``. At the end, stray temporary
files left in the output folders (or under output URIs) by killed workers are removed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..errors import AnimeGANError
from ..extras import require
from ..inference.options import StylizeOptions
from ..io.atomic import sweep_temps_of
from . import storage
from .worker import STATUS_FAILED, DistributedError, ItemResult, StylizeWorker

log = logging.getLogger("animegan")

#: where ``address="local"`` binds: loopback only, never the machine's outward address
LOCAL_NODE_IP = "127.0.0.2"

#: at most this many blocks (Ray tasks): a retried task redoes at most one block's images
_MAX_BLOCKS = 1000


def _ray() -> Any:
    return require("ray", extra="ray", feature="--ray (stylizing on a Ray cluster)")


def _quiet_ray(verbose: bool) -> None:
    """Ray and Ray Data log every execution step at INFO on the console: keep the CLI's output to its
    own lines (Ray Data's log file in the session folder keeps everything)."""
    if verbose:
        return
    logging.getLogger("ray").setLevel(logging.ERROR)
    for handler in logging.getLogger("ray.data").handlers:  # set up when ray.data is first imported
        if not isinstance(handler, logging.FileHandler) and "File" not in type(handler).__name__:
            handler.setLevel(logging.ERROR)


@contextlib.contextmanager
def connect(address: str = "auto", *, verbose: bool = False) -> Iterator[Any]:
    """Connect to a Ray cluster for the duration of the block; yields the ``ray`` module.

    ``auto``: the cluster this machine belongs to (``ray start`` here, or ``RAY_ADDRESS``);
    ``local``: a Ray started for this run on this machine, on ``127.0.0.2`` with no dashboard
    (nothing listens outside loopback), stopped at the end; ``HOST:PORT``: a head node's GCS.
    Where Ray is already initialised in this process (a user's own ``ray.init``), it is used as is.
    """
    ray = _ray()
    require("ray.data", extra="ray", feature="--ray (stylizing on a Ray cluster)")
    _quiet_ray(verbose)
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"logging_level": logging.DEBUG if verbose else logging.ERROR,
                              "log_to_driver": verbose, "configure_logging": True}
    if address == "local":
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home from our own cluster
        kwargs.update(_node_ip_address=LOCAL_NODE_IP, include_dashboard=False)
    else:
        host = address.rsplit(":", 1)[0] if address != "auto" else ""
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_loopback:
                kwargs["_node_ip_address"] = host  # else Ray would look for a raylet on the outward address
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except Exception as exc:  # noqa: BLE001 - Ray raises many types here; the user gets one line
        first = _ANSI.sub("", str(exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DistributedError(f"ray address {address}: cannot start or reach the cluster ({first})") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _pool_size(ray: Any, workers: int | None, cpus: float, gpus: float, items: int) -> int:
    """``workers``, or as many as the cluster's resources fit (at least one, at most one per item)."""
    total = ray.cluster_resources()
    if cpus > total.get("CPU", 0) or gpus > total.get("GPU", 0):
        have = f"{total.get('CPU', 0):g} CPU, {total.get('GPU', 0):g} GPU"
        raise DistributedError(f"one worker needs {cpus:g} CPU and {gpus:g} GPU, but the cluster has {have} "
                               "in all: lower cpus_per_worker/gpus_per_worker or add nodes",
                               params=("cpus_per_worker", "gpus_per_worker"))
    if workers is None:
        fits = [int(total.get("CPU", 0) // cpus)] if cpus > 0 else []
        fits += [int(total.get("GPU", 0) // gpus)] if gpus > 0 else []
        workers = max(1, min(fits)) if fits else 1
    return max(1, min(workers, items))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: how a worker's own error appears in the traceback text Ray carries back (ActorDiedError keeps no object)
_WORKER_ERROR = re.compile(r"^animegan(?:\.\w+)*\.\w+Error: (.+)$", re.MULTILINE)


def _job_failure(exc: BaseException) -> DistributedError:
    """One line for a failed Ray job: a worker's own AnimeGANError message where it raised one
    (a version mismatch, a model that does not load), else the Ray error's first line."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    texts = []
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, AnimeGANError):
            return DistributedError(str(current))
        texts.append(_ANSI.sub("", str(current)))
        for nxt in (getattr(current, "cause", None), current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
    for text in texts:
        found = _WORKER_ERROR.findall(text)
        if found:
            return DistributedError(f"a worker failed to start: {found[-1].strip()}")
    first = texts[0].strip().splitlines()[0] if texts[0].strip() else ""
    return DistributedError(f"the Ray job failed: {type(exc).__name__}: {first}".rstrip(": "))


def stylize_files(pairs: Iterable[tuple[str | os.PathLike, str | os.PathLike]], *,
                  model: str | os.PathLike | None = None, options: StylizeOptions | None = None,
                  address: str = "auto", workers: int | None = None, cpus_per_worker: float = 1.0,
                  gpus_per_worker: float = 0.0, device: str = "auto", precision: str = "auto",
                  backend: str = "torch", progress: Callable[[ItemResult], None] | None = None,
                  verbose: bool = False) -> list[ItemResult]:
    """Stylize each ``(input, output)`` pair on a Ray cluster; one :class:`ItemResult` per pair, in order.

    Inputs and outputs are paths every node can read/write, or object-store URIs (``s3://``,
    ``gs://``, ``file://``) the workers read and write through ``pyarrow.fs`` (see
    :mod:`animegan.distributed.storage`; an output URI is written whole or not at all).
    ``model``: a zoo name or a path every node can read (each actor loads it once). ``address``: see
    :func:`connect`. ``workers``: actors (default: as many as the cluster's CPUs/GPUs fit);
    ``cpus_per_worker`` / ``gpus_per_worker``: each actor's share (fractions allowed; torch uses
    the whole CPUs given). ``progress`` is called with each result as it arrives.
    Bad inputs are reported in their result; a cluster that cannot run the job raises
    :class:`DistributedError`.
    """
    from .. import __version__

    # os.fspath, not str(Path(...)): a URI string reaches the workers as written
    rows = [{"index": i, "input": os.fspath(src), "output": os.fspath(dst)} for i, (src, dst) in enumerate(pairs)]
    if not rows:
        return []
    if workers is not None and workers < 1:
        raise DistributedError(f"workers {workers}: must be at least 1", params=("workers",))
    if cpus_per_worker < 0 or gpus_per_worker < 0 or cpus_per_worker + gpus_per_worker == 0:
        raise DistributedError("cpus_per_worker and gpus_per_worker: at least one must be above 0, none below",
                               params=("cpus_per_worker", "gpus_per_worker"))
    options = options or StylizeOptions()
    kwargs = {"model": None if model is None else str(model), "options": options, "device": device,
              "precision": precision, "backend": backend, "driver_version": __version__}
    results: dict[int, ItemResult] = {}
    with connect(address, verbose=verbose) as ray:
        data = require("ray.data", extra="ray", feature="--ray (stylizing on a Ray cluster)")
        size = _pool_size(ray, workers, cpus_per_worker, gpus_per_worker, len(rows))
        dataset = data.from_items(rows, override_num_blocks=min(len(rows), _MAX_BLOCKS)).map_batches(
            StylizeWorker, fn_constructor_kwargs=kwargs, batch_size=1, batch_format="numpy",
            compute=data.ActorPoolStrategy(size=size), num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker or None)
        try:
            for row in dataset.iter_rows():
                result = ItemResult(input=str(row["input"]), output=str(row["output"]), status=str(row["status"]),
                                    error=str(row["error"]), worker_pid=int(row["worker_pid"]))
                results[int(row["index"])] = result  # a retried batch reports again: the last word counts
                if progress is not None:
                    progress(result)
        except AnimeGANError:
            raise
        except Exception as exc:  # noqa: BLE001 - a Ray failure: one line, a worker's own error if it had one
            raise _job_failure(exc) from None
        finally:
            removed: list = sweep_temps_of(row["output"] for row in rows if not storage.is_uri(row["output"]))
            removed += storage.sweep_temps(row["output"] for row in rows if storage.is_uri(row["output"]))
            if removed:
                log.info("removed %d temporary file(s) left by killed workers", len(removed))
    for row in rows:  # should not happen: Ray returns every row once the job succeeds
        if row["index"] not in results:
            name = row["input"]
            results[row["index"]] = ItemResult(name, row["output"], STATUS_FAILED,
                                               f"{name}: no result came back from the cluster")
    return [results[row["index"]] for row in rows]
