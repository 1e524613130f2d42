"""`jitsi:videobridges`: validated before any resource, like every key.

Every refusal is one line that names the key (or its field) and shows the command that fixes it,
in the form an object key takes (`--path 'jitsi:videobridges.FIELD'`).
"""

import shutil

import pytest
import yaml
from program_mocks import fake_checkout, run_program, stack_config
from support import ROOT

import config
from config_videobridges import BridgePool, videobridges

KEY = "jitsi:videobridges"


@pytest.fixture
def run(tmp_path, monkeypatch):
    scripts = fake_checkout(tmp_path, monkeypatch)
    shutil.copytree(ROOT / "scripts" / "bridge", scripts / "bridge")

    def go(value):
        cfg, keys = stack_config(jitsi__videobridges=value)
        return run_program(cfg, keys, monkeypatch, allow_error=True)

    return go


def test_pulumi_yaml_declares_the_pool_as_an_object_that_is_off_by_default():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"][KEY]
    assert declared["type"] == "object" and declared["default"] == {} == config.DEFAULTS[KEY]
    assert videobridges(config.DEFAULTS[KEY]) is None


def test_only_max_gives_a_pool_with_sound_defaults_and_text_values_are_read():
    assert videobridges({"max": 4}) == BridgePool(1, 4, "e2-standard-2", False, 0.6)
    # `pulumi config set --path` may store numbers and booleans as text.
    text = {
        "min": "2",
        "max": "5",
        "spot": "true",
        "cpuTarget": "0.7",
        "machineType": "n2d-highcpu-8",
    }
    assert videobridges(text) == BridgePool(2, 5, "n2d-highcpu-8", True, 0.7)


def test_max_zero_is_no_pool_but_its_other_fields_are_still_checked():
    assert videobridges({"max": 0, "min": 3, "spot": True}) is None
    with pytest.raises(config.ConfigError, match="spot must be true or false"):
        videobridges({"max": 0, "spot": "maybe"})


BAD_POOLS = {
    "a list": ("[4]", f"{KEY} must be an object"),
    "plain text": ("four", f"pulumi config rm {KEY} && pulumi config set --path '{KEY}.max' 4"),
    "unknown field": ('{"max": 2, "maximum": 3}', f"{KEY}.maximum is not a field of the pool"),
    "no max": ('{"min": 2}', f"{KEY}.max is not set"),
    "max too large": ('{"max": 51}', f"{KEY}.max must be a whole number from 0 to 50"),
    "max negative": ('{"max": -1}', f"{KEY}.max must be a whole number"),
    "max a fraction": ('{"max": 2.5}', f"{KEY}.max must be a whole number"),
    "max a word": ('{"max": "many"}', f"{KEY}.max must be a whole number"),
    "min zero": ('{"max": 2, "min": 0}', f"{KEY}.min must be a whole number from 1 to 50"),
    "min above max": ('{"max": 2, "min": 3}', f"{KEY}.min (3) is more than {KEY}.max (2)"),
    "bad machine type": ('{"max": 2, "machineType": "big"}', f"{KEY}.machineType must be"),
    "spot not boolean": ('{"max": 2, "spot": "maybe"}', f"{KEY}.spot must be true or false"),
    "cpu target too high": ('{"max": 2, "cpuTarget": 0.95}', f"{KEY}.cpuTarget must be a fraction"),
    "cpu target a word": ('{"max": 2, "cpuTarget": "high"}', f"{KEY}.cpuTarget must be a fraction"),
    "cpu target a bool": ('{"max": 2, "cpuTarget": true}', f"{KEY}.cpuTarget must be a fraction"),
}


@pytest.mark.parametrize(("value", "expected"), BAD_POOLS.values(), ids=BAD_POOLS.keys())
def test_a_bad_pool_stops_the_program_with_one_line_before_any_resource(run, value, expected):
    result = run(value)
    assert isinstance(result.error, config.ConfigError), result.error
    message = str(result.error)
    assert expected in message and "\n" not in message
    # Names the key and shows the command that fixes it, in the form an object key takes.
    assert message.startswith(KEY)
    assert f"--path '{KEY}." in message
    assert result.resources == []
