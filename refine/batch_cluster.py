"""Batch clusters described in a ``refine run`` configuration: the ``[cluster]`` table checked
(:func:`cluster_config`) and the dask_jobqueue cluster object built from it (:func:`make_cluster`); the run hands
that object to :class:`refine.executor.ExecutorSpec` ``cluster``. Built only here: no job is submitted until the
caller scales it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from refine.errors import InputError

#: Keys of a ``[cluster]`` table (``kind = "slurm"``): ``jobs`` is how many batch jobs to start; the others are
#: dask_jobqueue.SLURMCluster's own arguments.
CLUSTER_KEYS = ("kind", "jobs", "cores", "processes", "memory", "queue", "account", "walltime", "job_cpu",
                "job_mem", "interface", "local_directory", "log_directory", "job_extra_directives",
                "job_script_prologue", "worker_extra_args", "python", "shebang", "name")
CLUSTER_KINDS = ("slurm",)


@dataclass(frozen=True)
class ClusterConfig:
    """A batch cluster as a configuration describes it: its kind, how many jobs, and the job's arguments."""

    kind: str
    jobs: int
    arguments: Mapping[str, Any]


def cluster_config(table: Mapping[str, Any], source: str = "cluster") -> ClusterConfig:
    """Check a ``[cluster]`` table; bad input names ``source`` and the key."""
    unknown = sorted(set(table) - set(CLUSTER_KEYS))
    if unknown:
        raise InputError(source, f"[cluster]: unknown key {unknown[0]!r}; known: {', '.join(CLUSTER_KEYS)}")
    kind = table.get("kind", "slurm")
    if kind not in CLUSTER_KINDS:
        raise InputError(source, f"[cluster]: kind {kind!r} is not supported; known: {', '.join(CLUSTER_KINDS)}")
    jobs = table.get("jobs", 1)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise InputError(source, f"[cluster]: jobs must be a positive integer, got {jobs!r}")
    if "cores" not in table or "memory" not in table:
        raise InputError(source, "[cluster]: cores and memory are required (per batch job)")
    arguments = {k: v for k, v in table.items() if k not in ("kind", "jobs")}
    return ClusterConfig(kind=kind, jobs=jobs, arguments=arguments)


def make_cluster(config: ClusterConfig) -> Any:
    """The dask_jobqueue cluster object of ``config`` (its scheduler runs here; no job is submitted until
    ``cluster.scale(jobs=config.jobs)``)."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise InputError("cluster", "a SLURM cluster needs dask-jobqueue (pip install 'refine[cluster]')") from None
    kwargs = dict(config.arguments)
    if "python" in kwargs:
        kwargs["python"] = str(kwargs["python"])
    return SLURMCluster(**kwargs)
