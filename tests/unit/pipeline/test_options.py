"""Runner profiles and pipeline options."""

from __future__ import annotations

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from flanmix.errors import FlanmixError
from flanmix.pipeline.options import load_profile, parse_overrides, pipeline_setup


def test_direct_profile_uses_fnapirunner_and_workers_switch_to_processes() -> None:
    assert load_profile("direct")["runner"] == "FnApiRunner"
    setup = pipeline_setup("direct", workers=3)
    runner, options = setup.runner, setup.options
    assert isinstance(runner, FnApiRunner)
    opts = options.get_all_options()
    assert opts["direct_running_mode"] == "multi_processing"
    assert opts["direct_num_workers"] == 3


def test_option_overrides_and_errors() -> None:
    assert parse_overrides(("--project=1", "job_name=x=y")) == {"project": "1", "job_name": "x=y"}
    with pytest.raises(FlanmixError, match=r"unknown Beam pipeline option.*'max_worker'"):
        parse_overrides(("max_worker=3",))
    with pytest.raises(FlanmixError, match="key=value"):
        parse_overrides(("novalue",))
    with pytest.raises(FlanmixError, match="did you mean 'direct'"):
        load_profile("drect")
