"""refine.batch_cluster: the ``[cluster]`` table of a ``refine run`` configuration and the SLURM cluster object built
from it (built only: no SLURM here, no job is submitted)."""

from __future__ import annotations

import pytest

from refine.batch_cluster import cluster_config, make_cluster
from refine.errors import InputError


@pytest.mark.parametrize(("table", "message"), [
    ({"kind": "pbs", "cores": 1, "memory": "1GB"}, "kind 'pbs' is not supported"),
    ({"cores": 1, "memory": "1GB", "partition": "x"}, "unknown key 'partition'"),
    ({"cores": 1, "memory": "1GB", "jobs": 0}, "jobs must be a positive integer"),
    ({"cores": 1}, "cores and memory are required"),
])
def test_bad_cluster_tables_name_the_file_and_key(table, message):
    with pytest.raises(InputError, match=message) as exc:
        cluster_config(table, "pipe.toml")
    assert exc.value.source == "pipe.toml"


def test_slurm_cluster_object_is_built_with_the_table_arguments():
    pytest.importorskip("dask_jobqueue")
    config = cluster_config({"kind": "slurm", "jobs": 3, "cores": 8, "processes": 4, "memory": "16GB",
                             "queue": "debug", "account": "mx1234", "walltime": "02:30:00",
                             "job_extra_directives": ["--exclusive"]}, "pipe.toml")
    assert config.jobs == 3 and "jobs" not in config.arguments
    cluster = make_cluster(config)
    try:
        script = cluster.job_script()
        for line in ("#SBATCH -p debug", "#SBATCH -A mx1234", "#SBATCH -t 02:30:00", "#SBATCH --exclusive",
                     "#SBATCH --cpus-per-task=8", "--nworkers 4", "--nthreads 2"):
            assert line in script, line
        assert "#SBATCH --mem=15G" in script  # 16 GB as SLURM writes it (GiB, rounded down)
        assert cluster.scheduler_address.startswith("tcp://")
        assert len(cluster.workers) == 0  # nothing submitted before scale()
    finally:
        cluster.close()
