import copy

import pytest
from conftest import ROOT

from gsos.config import ConfigError, load_schema, validate_config

SCHEMA = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def test_shipped_configs_are_valid(default_config, paper_config):
    cfg = validate_config(default_config, SCHEMA)
    assert cfg["tpe"]["n_startup_jobs"] == 5
    paper = validate_config(paper_config, SCHEMA)
    assert paper["hpo"]["iterations"] == 100 and paper["tpe"]["n_startup_jobs"] == 15
    assert len(paper["run"]["seeds"]) == 5 and len(paper["run"]["datasets"]) == 6
    assert [g["share"] for g in paper["gsos"]["groups"]] == [4, 3, 3]


def test_defaults_are_filled(default_config):
    cfg = copy.deepcopy(default_config)
    del cfg["tpe"], cfg["run"]["seeds"]
    out = validate_config(cfg, SCHEMA)
    assert out["tpe"] == {"n_startup_jobs": 15, "gamma": 0.25, "n_ei_candidates": 24}
    assert out["run"]["seeds"] == [0, 1, 2, 3, 4]


def broken(default_config, edit):
    cfg = copy.deepcopy(default_config)
    edit(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA)
    return str(err.value)


def test_errors_name_the_key_to_fix(default_config):
    msg = broken(default_config, lambda c: c["hpo"].update(iterations="many"))
    assert "hpo.iterations: 'many' is not of type 'integer'" in msg
    msg = broken(default_config, lambda c: c.update(tpee={}))
    assert "'tpee' was unexpected" in msg and "allowed keys here" in msg
    msg = broken(default_config, lambda c: c["search_space"]["epoch"].update(default=50))
    assert "search_space.epoch.default: 50 lies outside" in msg
    msg = broken(default_config, lambda c: c["gsos"]["groups"][2]["params"].remove("kernel"))
    assert "gsos.groups" in msg and "kernel" in msg
    msg = broken(default_config, lambda c: c["run"].update(datasets=["mnist"]))
    assert "run.datasets: 'mnist' is not defined" in msg
    msg = broken(default_config, lambda c: c["run"].update(strategies=["random"]))
    assert "run.strategies.0" in msg


def test_all_problems_reported_together(default_config):
    def edit(c):
        c["hpo"]["iterations"] = 0
        c["device"] = "tpu"

    msg = broken(default_config, edit)
    assert "hpo.iterations" in msg and "device" in msg


def test_explicit_group_iterations_must_add_up(default_config):
    def explicit(sizes):
        def edit(c):
            for g, n in zip(c["gsos"]["groups"], sizes, strict=True):
                g.pop("share")
                g["iterations"] = n

        return edit

    msg = broken(default_config, explicit([10, 7, 6]))
    assert "add up to 23, but hpo.iterations is 24" in msg
    cfg = copy.deepcopy(default_config)
    explicit([12, 6, 6])(cfg)
    assert validate_config(cfg, SCHEMA)["gsos"]["groups"][0]["iterations"] == 12


def test_a_group_with_neither_share_nor_iterations_is_refused(default_config):
    msg = broken(default_config, lambda c: c["gsos"]["groups"][1].pop("share"))
    assert "gsos.groups.1" in msg


def test_folder_source_needs_a_path(default_config):
    msg = broken(
        default_config, lambda c: c["datasets"]["digits"].update(source={"kind": "folder"})
    )
    assert "'path' is a required property" in msg


def test_schema_errors_do_not_hide_the_other_problems(default_config):
    def edit(c):
        c["device"] = "tpu"  # a schema error
        c["gsos"]["groups"][2]["params"].remove("kernel")  # a partition error
        c["run"]["datasets"] = ["digits", "mnist"]  # an undefined dataset
        c["search_space"]["epoch"]["default"] = 50  # a default outside its range

    msg = broken(default_config, edit)
    assert "device" in msg
    assert "kernel" in msg and "gsos.groups" in msg
    assert "'mnist' is not defined" in msg
    assert "search_space.epoch.default: 50 lies outside" in msg
