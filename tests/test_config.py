import copy

import pytest
import yaml
from conftest import ROOT

from gsos.config import (
    ConfigError,
    Layer,
    experiment_name,
    load_config,
    load_schema,
    typed,
    validate_config,
)

SCHEMA = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
DEFAULTS = ROOT / "config" / "config.yaml"


def test_shipped_configs_are_valid(default_config, paper_config):
    """The defaults run the paper's protocol shape; the paper overlay its datasets."""
    cfg = validate_config(default_config, SCHEMA)
    assert cfg["experiment"] == "default" and len(cfg["run"]["seeds"]) == 5
    assert cfg["hpo"]["iterations"] == 100 and cfg["tpe"]["n_startup_jobs"] == 15
    assert [g["share"] for g in cfg["gsos"]["groups"]] == [4, 3, 3]
    assert {"gsos", "simultaneous", "random", "hyperband"} <= set(cfg["run"]["strategies"])
    paper = validate_config(paper_config, SCHEMA)
    assert paper["experiment"] == "paper"
    assert paper["hpo"]["iterations"] == 100 and paper["tpe"]["n_startup_jobs"] == 15
    assert len(paper["run"]["seeds"]) == 5 and len(paper["run"]["datasets"]) == 6
    assert paper["search_space"]["epoch"] == {"type": "int", "low": 10, "high": 100, "default": 10}
    assert paper["search_space"]["lr"] == cfg["search_space"]["lr"]  # inherited, not restated


def test_every_default_is_declared_once():
    """config/config.yaml holds every default; the schema declares none of them again (only
    the defaults inside a dataset entry, which a user writes from scratch)."""

    def defaults_outside_datasets(node, path=""):
        if isinstance(node, dict):
            if "default" in node and path and not path.startswith(".properties.datasets"):
                yield path
            for k, v in node.items():
                if k != "default":
                    yield from defaults_outside_datasets(v, f"{path}.{k}")

    found = [p for p in defaults_outside_datasets(SCHEMA) if "search_space" not in p]
    assert found == []
    assert validate_config(yaml.safe_load(DEFAULTS.read_text()), SCHEMA)  # complete as it is


def test_a_users_file_holds_only_what_differs(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "run: {datasets: [pets]}\n"
        "datasets:\n  pets:\n    source: {kind: folder, path: /data/pets}\n"
        "    image_size: 32\n    channels: 3\n"
        "tpe: {gamma: 0.3}\n"
    )
    cfg = load_config(DEFAULTS, [mine], None, SCHEMA)
    assert cfg["experiment"] == "mine"  # named after the file
    assert cfg["run"]["datasets"] == ["pets"]  # a list replaces
    assert cfg["run"]["seeds"] == [0, 1, 2, 3, 4]  # the rest of the mapping stays
    assert cfg["tpe"] == {"n_startup_jobs": 15, "gamma": 0.3, "n_ei_candidates": 24}
    assert cfg["datasets"]["pets"]["split"] == {"validation": 0.2, "test": 0.2, "seed": 0}
    paper_and_mine = load_config(DEFAULTS, [ROOT / "config" / "paper.yaml", mine], None, SCHEMA)
    assert paper_and_mine["experiment"] == "mine"
    assert paper_and_mine["search_space"]["epoch"]["high"] == 100  # the paper's protocol


def test_command_line_values_are_typed_and_nest():
    # what Snakemake hands over for --config hpo='{iterations: 10}' device=cpu ...
    cli = {"hpo": {"iterations": "10"}, "tpe": {"gamma": "2.5e-1"}, "training": {"precision": "on"}}
    assert typed(cli) == {
        "hpo": {"iterations": 10},
        "tpe": {"gamma": 0.25},
        "training": {"precision": "on"},
    }
    assert typed({"training": {"channels_last": "false"}}) == {"training": {"channels_last": False}}
    cli["training"] = {"precision": "bf16", "channels_last": "false"}
    cfg = load_config(DEFAULTS, [], cli, SCHEMA)
    assert cfg["hpo"] == {"iterations": 10, "cost": "match", "max_repeats": 50}
    assert cfg["training"]["precision"] == "bf16" and cfg["training"]["channels_last"] is False


def test_the_experiment_is_named_by_the_last_file_unless_set():
    def name(*layers):
        return experiment_name(list(layers))[0]

    base = Layer("config/config.yaml", {"experiment": "default"})
    assert name(base) == "default"
    assert name(base, Layer("a/paper.yaml", {"experiment": "paper"})) == "paper"
    assert name(base, Layer("p.yaml", {"experiment": "paper"}), Layer("x/m.yaml", {})) == "m"
    assert name(base, Layer("m.yaml", {}), Layer("--config", {"experiment": "e"})) == "e"
    # a name made from a file's name is that file's to fix, not the defaults'
    _, source = experiment_name([base, Layer("x/a b.yaml", {})])
    assert source.startswith("x/a b.yaml: the experiment is named after this file")


def test_problems_say_which_file_set_the_key(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("hpo: {iterations: lots}\ndevice: tpu\n")
    with pytest.raises(ConfigError) as err:
        load_config(DEFAULTS, [mine], {"tpe": {"gamma": "7"}}, SCHEMA)
    msg = str(err.value)
    line = next(x for x in msg.splitlines() if "hpo.iterations" in x)
    assert "'lots' is not of type 'integer'" in line and line.endswith(f"[set in {mine}]")
    assert "device: 'tpu' is not one of" in msg and msg.count(f"[set in {mine}]") == 2
    assert "tpe.gamma: 7 is greater than or equal to the maximum of 1" in msg
    assert "[set in --config]" in msg


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  datasets: [digits\n  seeds: [0]\n")
    other = tmp_path / "other.yaml"
    other.write_text("device: [cpu\n")
    with pytest.raises(ConfigError) as err:
        load_config(DEFAULTS, [bad, other], None, SCHEMA)
    msg = str(err.value)
    assert f"{bad}:3:" in msg and "YAML syntax error" in msg
    assert f"{other}:" in msg  # every broken file, not only the first


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
    msg = broken(default_config, lambda c: c["run"].update(strategies=["bayes"]))
    assert "run.strategies.0: 'bayes' is not one of ['gsos', 'simultaneous'" in msg


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

    msg = broken(default_config, explicit([40, 30, 29]))
    assert "add up to 99, but hpo.iterations is 100" in msg
    cfg = copy.deepcopy(default_config)
    explicit([50, 25, 25])(cfg)
    assert validate_config(cfg, SCHEMA)["gsos"]["groups"][0]["iterations"] == 50


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


def test_pilot_and_measured_groups_problems(default_config):
    def edit(c):
        c["pilot"]["seeds"] = [0, 1000]
        c["pilot"]["strategy"] = "gsos_measured"
        c["measured_groups"]["rule"] = {"sizes": [3, 3]}
        c["measured_groups"]["source"] = "leave_one_out"
        c["run"]["strategies"] = ["gsos_measured"]

    msg = broken(default_config, edit)
    assert "pilot.seeds: [0] are also run.seeds" in msg
    assert "pilot.strategy: 'gsos_measured' is not one of" in msg
    assert "rule.sizes: [3, 3] add up to 6, but the search space has 10" in msg
    assert "leave_one_out measures each dataset's groups on the others" in msg


def refused(tmp_path, text: str) -> str:
    """The message a user's file ``text`` (over the defaults) is refused with."""
    mine = tmp_path / "mine.yaml"
    mine.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(DEFAULTS, [mine], None, SCHEMA)
    return str(e.value)


def test_null_removes_a_hyperparameter_as_documented(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "search_space: {batch_size: null}\n"
        "gsos:\n  groups:\n"
        "    - {name: G1, params: [num_conv_layers, lr, dropout_rate], share: 4}\n"
        "    - {name: G2, params: [optimizer, epoch], share: 3}\n"
        "    - {name: G3, params: [stride, padding, kernel, num_fc_units], share: 3}\n"
    )
    cfg = load_config(DEFAULTS, [mine], None, SCHEMA)
    assert "batch_size" not in cfg["search_space"] and len(cfg["search_space"]) == 9
    # a null over a value still sets it null (gsos.continuous_inner: null means 'not set')
    mine.write_text("gsos: {continuous_inner: null}\n")
    assert load_config(DEFAULTS, [mine], None, SCHEMA)["gsos"]["continuous_inner"] is None


def test_dropping_a_hyperparameter_still_grouped_names_the_groups(tmp_path):
    msg = refused(tmp_path, "search_space: {batch_size: null}\n")
    assert "batch_size" in msg and "gsos.groups" in msg


def test_an_empty_mapping_in_a_users_file_is_refused(tmp_path):
    msg = refused(tmp_path, "search_space: {}\n")
    assert "search_space: an empty mapping" in msg and "mine.yaml" in msg


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    msg = refused(tmp_path, "hpo: {iterations: 50}\ntpe: {gamma: 0.3}\nhpo: {iterations: 20}\n")
    assert "mine.yaml:3:1" in msg and "duplicate key 'hpo' (first at line 1)" in msg


def test_shares_of_the_wrong_length_are_refused(tmp_path):
    msg = refused(tmp_path, "measured_groups: {shares: [4, 3]}\n")
    assert "measured_groups.shares: 2 share(s)" in msg and "3 group(s)" in msg
    assert "mine.yaml" in msg


def test_a_value_set_in_the_users_file_is_blamed_on_that_file(tmp_path):
    msg = refused(tmp_path, "hpo: {iterations: 2}\n")
    assert "hpo.iterations: 2 iterations cannot give each of 3 groups one" in msg
    assert "hpo.iterations set in" in msg and "mine.yaml" in msg.split("hpo.iterations set in")[1]
    assert msg.count("cannot give each") == 1  # once


def test_a_dropped_hyperparameter_trains_at_its_default(tmp_path, default_config):
    """search_space: {batch_size: null}: not searched, every trial at batch size 32."""
    from gsos.search.optimizers.base import Budget, View
    from gsos.search.optimizers.hyperopt_search import make_random
    from gsos.search.space import SearchSpace

    mine = tmp_path / "mine.yaml"
    mine.write_text("search_space: {batch_size: null}\n")
    cfg = load_config(DEFAULTS, [mine], {"gsos": {"groups": [
        {"name": "G1", "params": [n for n in default_config["search_space"] if n != "batch_size"],
         "share": 1}]}}, SCHEMA)  # fmt: skip
    assert cfg["fixed"] == {"batch_size": 32}
    space = SearchSpace.from_config(cfg["search_space"], cfg["fixed"])
    assert "batch_size" not in space.names
    opt = make_random(View.of(space), 0, Budget(evaluations=3), cfg)
    params = [opt.ask().params for _ in range(3)]
    assert all(p["batch_size"] == 32 for p in params) and len({p["lr"] for p in params}) == 3


def test_weight_decay_is_an_optional_hyperparameter(tmp_path):
    """Absent from the defaults and the paper (0); any config may search it."""
    import torch

    from gsos.training.trainer import make_optimizer

    assert "weight_decay" not in load_config(DEFAULTS, [], None, SCHEMA)["search_space"]
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "search_space:\n"
        "  weight_decay: {type: loguniform, low: 1.0e-6, high: 1.0e-2, default: 1.0e-4}\n"
        "gsos:\n  groups:\n"
        "    - {name: G1, params: [num_conv_layers, lr, dropout_rate, weight_decay], share: 4}\n"
        "    - {name: G2, params: [optimizer, epoch], share: 3}\n"
        "    - {name: G3, params: [stride, padding, kernel, num_fc_units, batch_size], share: 3}\n"
    )
    cfg = load_config(DEFAULTS, [mine], None, SCHEMA)
    assert cfg["search_space"]["weight_decay"]["default"] == 1.0e-4
    net = torch.nn.Linear(2, 2)
    params = {"lr": 0.1, "optimizer": "adam", "weight_decay": 0.01}
    assert make_optimizer(params, net, 0.0).weight_decay == 0.01
    assert make_optimizer({"lr": 0.1, "optimizer": "sgd"}, net, 0.0).weight_decay == 0.0
