"""Fuzzing the ``refine run`` configuration loader (TOML, refine.config/1): a pipeline or a one-line InputError."""

from __future__ import annotations

import pytest
from hypothesis import given

from refine.cli.main import build_parser
from refine.cli.pipeline import Pipeline, read_pipeline
from refine.cli.run import command_parser, step_options
from tests.fuzzing import fuzz_inputs, fuzz_settings, read_or_refuse

SEEDS = (
    b'# A saved refine pipeline\nschema = "refine.config/1"\n\n[[step]]\nname = "integrate"\ncommand = "integrate"\n'
    b'inputs = ["drs_na3v2o5_cu.tif"]\noptions = { poni = "drs.poni", mask = "mask.npy", polarization = 0.99, '
    b'npt = 3000, no_progress = true, o = "integrated" }\n\n[[step]]\nname = "lebail"\ncommand = "lebail"\n'
    b'inputs = ["integrated/*.xye"]\noptions = { spacegroup = ["Fm-3m", "Fm-3m"], cell = ["4.65 4.65 4.65 90 90 90",'
    b' "3.62 3.62 3.62 90 90 90"], range = "1:11.8", json = "lebail.json" }\n',
    b'schema = "refine.config/1"\n[defaults]\nqmax = 25            # both pdf commands take --qmax\n[[step]]\n'
    b'name = "reduce"\ncommand = "pdf reduce"\ninputs = "Ni.chi"\n[step.options]\ncomposition = "Ni"\nqmin = 0.85\n'
    b'bgscale = 0.4\no = "out/Ni.gr"\n[[step]]\ncommand = "pdf fit"\ninputs = ["out/*.gr"]\n'
    b"options = { phase = ['Ni.cif'], qdamp = 0.05, rmin = 1.5, rmax = 20, json = 'out/ni.json' }\n",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_run_config")


@pytest.fixture(scope="module")
def root_parser():
    return build_parser()


def _load_and_check(path, root):
    """What `refine run` does before running anything: read the file, then check every step's command and
    options against refine's own parser."""
    pipeline = read_pipeline(path)
    for step in pipeline.steps:
        step_options(step, pipeline.defaults, command_parser(root, step, pipeline.path), pipeline.path)
    return pipeline


@fuzz_settings()
@given(data=fuzz_inputs(SEEDS))
def test_fuzz_run_config(folder, root_parser, data):
    path = folder / "pipeline.toml"
    pipeline = read_or_refuse(lambda p: _load_and_check(p, root_parser), path, data)
    if pipeline is not None:
        assert isinstance(pipeline, Pipeline) and pipeline.steps and pipeline.path == path.resolve()
        assert all(step.command and all(isinstance(i, str) for i in step.inputs) for step in pipeline.steps)
