"""What gsos.config finds on disk and warns of at planning, called directly on the defaults
with one thing changed: image folders too small for their split, folders a run cannot write
to, degenerate set-ups said as warnings, and a config changed since the experiment's last
run (issue 33: each is a check a user relies on and no test pinned)."""

import copy
from pathlib import Path

import pytest

from gsos.config import (
    _differences,
    config_warnings,
    filesystem_problems,
    load_layers,
    record_run_config,
    recorded_run_config,
    typed,
)


@pytest.fixture
def cfg(default_config):
    return copy.deepcopy(default_config)


def images(root: Path, per_class: dict[str, int]) -> Path:
    for name, n in per_class.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / name / f"{i}.png").write_bytes(b"x")
    return root


def folder_dataset(cfg, path, test_path=None, split=None, name="mine"):
    source = {"kind": "folder", "path": str(path)}
    if test_path is not None:
        source["test_path"] = str(test_path)
    cfg["datasets"][name] = {"source": source, "image_size": 8, "channels": 1}
    if split is not None:
        cfg["datasets"][name]["split"] = split
    cfg["run"]["datasets"] = ["digits", name]  # an embedded one first: skipped, not the end
    return cfg


# --- image folders ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "split, per_class, refused",
    [
        (None, 2, True),  # the default split takes a test share too: 3 images a class
        (None, 3, False),
        ({"validation": 0.2, "test": 0.2, "seed": 0}, 2, True),
        ({"validation": 0.2, "test": 0.0, "seed": 0}, 2, False),  # no test share: 2 do
        ({"validation": 0.2, "test": 0.0, "seed": 0}, 1, True),
    ],
)
def test_a_folder_needs_enough_images_per_class_for_its_split(
    cfg, tmp_path, monkeypatch, split, per_class, refused
):
    monkeypatch.chdir(tmp_path)
    folder_dataset(cfg, images(tmp_path / "imgs", {"a": per_class, "b": 5}), split=split)
    problems = filesystem_problems(cfg)
    assert bool(problems) == refused, problems
    if refused:
        assert (
            problems[0].startswith("datasets.mine.source.path:")
            and f"a ({per_class})" in (problems[0])
        )


def test_an_official_test_folder_needs_one_image_a_class_and_the_same_classes(
    cfg, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    train = images(tmp_path / "train", {"a": 2, "b": 2})  # 2 a class: no test share taken
    folder_dataset(cfg, train, images(tmp_path / "test", {"a": 1, "b": 1}))
    assert filesystem_problems(cfg) == []
    folder_dataset(cfg, train, images(tmp_path / "other", {"a": 1, "c": 1}))
    (problem,) = filesystem_problems(cfg)
    assert problem.startswith("datasets.mine.source.test_path: the test folder's classes differ")
    folder_dataset(cfg, images(tmp_path / "small", {"a": 1, "b": 2}), tmp_path / "missing")
    problems = filesystem_problems(cfg)  # both folders' problems, not only the last
    assert [p.split(":")[0] for p in problems] == [
        "datasets.mine.source.path", "datasets.mine.source.test_path",
    ]  # fmt: skip


def test_folder_checks_are_skipped_where_the_schema_already_failed(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder_dataset(cfg, tmp_path / "missing")
    assert len(filesystem_problems(cfg)) == 1
    for broken in ({"datasets"}, {"run.datasets"}, {"datasets.mine.source"}):
        assert filesystem_problems(cfg, broken) == []


def test_every_dataset_of_the_run_is_checked(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder_dataset(cfg, tmp_path / "a", name="one")
    folder_dataset(cfg, tmp_path / "b", name="two")
    cfg["run"]["datasets"] = ["one", "digits", "two"]
    assert [p.split(":")[0] for p in filesystem_problems(cfg)] == [
        "datasets.one.source.path", "datasets.two.source.path",
    ]  # fmt: skip


@pytest.mark.parametrize("folder", ["results", "reports", "logs", "benchmarks"])
def test_a_folder_the_run_cannot_write_to_is_named(cfg, tmp_path, monkeypatch, folder):
    monkeypatch.chdir(tmp_path)
    cfg["experiment"] = "exp1"
    assert filesystem_problems(cfg) == []
    (tmp_path / folder).write_text("a file where the folder goes")
    (problem,) = filesystem_problems(cfg)
    assert problem.startswith(f"the run writes to {folder}/exp1: {folder} is a file")
    del cfg["experiment"]
    assert filesystem_problems(cfg)[0].startswith(f"the run writes to {folder}/default:")


# --- warnings --------------------------------------------------------------------------------


def with_space(cfg, **entries):
    cfg["search_space"].update(entries)
    return cfg


@pytest.mark.parametrize("high, warned", [(2, True), (3, False), (9, False)])
def test_hyperband_with_one_rung_is_warned_only_then(cfg, high, warned):
    """Epochs 1..2 at eta 3: one rung (random search); 1..3 gives two rungs."""
    with_space(cfg, epoch={"type": "int", "low": 1, "high": high, "default": 1})
    found = [w for w in config_warnings(cfg) if w.startswith("hyperband:")]
    assert bool(found) == warned
    if warned:
        assert "hyperband trains every configuration at the full budget" in found[0]
    cfg["run"]["strategies"] = ["simultaneous"]  # no Hyperband in the run: nothing to say
    assert not [w for w in config_warnings(cfg) if w.startswith("hyperband:")]


def test_bohb_and_gsos_with_hyperband_inside_are_warned_as_themselves(cfg):
    with_space(cfg, epoch={"type": "int", "low": 1, "high": 2, "default": 1})
    cfg["run"]["strategies"] = ["bohb"]
    (w,) = [w for w in config_warnings(cfg) if "one rung" in w]
    assert w.startswith("bohb:") and "bohb trains every" in w


def test_tpe_learning_curve_strategies_count_as_tpe_users(cfg):
    cfg["run"]["strategies"] = ["tpe_lc"]
    cfg["tpe"]["n_startup_jobs"] = cfg["hpo"]["iterations"]
    (w,) = [w for w in config_warnings(cfg) if w.startswith("tpe.n_startup_jobs")]
    assert "tpe_lc never leave(s) the random start" in w


def test_gsos_groups_no_larger_than_the_random_start_are_warned(cfg):
    """100 iterations in shares 4:3:3 are 40, 30, 30: with 30 random starts the last two
    groups never leave them (a group of exactly 30 included)."""
    cfg["run"]["strategies"] = ["gsos"]
    cfg["tpe"]["n_startup_jobs"] = 30
    (w,) = [w for w in config_warnings(cfg) if "gsos group" in w]
    assert "group(s) G2, G3 have no more iterations than that" in w
    cfg["tpe"]["n_startup_jobs"] = 29
    assert not [w for w in config_warnings(cfg) if "gsos group" in w]


def test_gsos_groups_that_cannot_be_split_are_left_to_the_checks(cfg):
    cfg["run"]["strategies"] = ["gsos"]
    cfg["hpo"]["iterations"] = 2  # fewer than the groups: a problem, said elsewhere
    assert not [w for w in config_warnings(cfg) if "gsos group" in w]
    cfg["gsos"]["groups"][0].pop("share")
    cfg["hpo"]["iterations"] = 100
    config_warnings(cfg)  # a group without a share: not this function's to say


@pytest.mark.parametrize(
    "size, layers, pool, warned_other",
    [(8, 4, 2, None), (8, 6, 2, 3), (4, 5, 2, 3), (8, 6, 3, 4), (8, 6, 1, None), (1, 5, 2, 5)],
)
def test_convolutions_on_single_pixels_are_warned(cfg, size, layers, pool, warned_other):
    """8×8 images halve to 1×1 after 3 poolings: up to 2 layers more are let pass."""
    cfg["datasets"]["digits"]["image_size"] = size
    cfg["model"]["pool_size"] = pool
    with_space(cfg, num_conv_layers={"type": "choice", "values": [2, layers], "default": 2})
    found = [w for w in config_warnings(cfg) if w.startswith("search_space.num_conv_layers")]
    assert bool(found) == (warned_other is not None), found
    if found:
        assert f"up to {layers} layers" in found[0]
        assert f"the other {warned_other} convolve single pixels" in found[0]


def test_fixed_layers_and_a_missing_size_or_pool_are_read_as_the_model_reads_them(cfg):
    cfg["fixed"] = {"num_conv_layers": 7}
    del cfg["search_space"]["num_conv_layers"]
    (w,) = [w for w in config_warnings(cfg) if "convolve single pixels" in w]
    assert "up to 7 layers" in w and "the other 4" in w
    del cfg["model"]["pool_size"]  # the model's default pool: 2
    assert [w for w in config_warnings(cfg) if "convolve single pixels" in w] == [w]
    cfg["datasets"]["digits"].pop("image_size")  # no size known: nothing to say
    assert not [w for w in config_warnings(cfg) if "convolve single pixels" in w]
    cfg["run"]["datasets"] = ["nowhere", "digits"]
    config_warnings(cfg)


def test_layers_as_a_range_or_words_are_read_for_their_largest(cfg):
    with_space(cfg, num_conv_layers={"type": "int", "low": 2, "high": 6, "default": 2})
    assert [w for w in config_warnings(cfg) if "up to 6 layers" in w]
    with_space(cfg, num_conv_layers={"type": "choice", "values": ["a", "b"], "default": "a"})
    assert not [w for w in config_warnings(cfg) if "convolve" in w]


def test_a_changed_config_for_an_existing_experiment_names_what_changed(cfg):
    old = copy.deepcopy(cfg)
    cfg["tpe"]["gamma"] = 0.3
    cfg["run"]["seeds"] = [9]  # which runs: not a change of results
    cfg["progress_seconds"] = 99
    (w,) = [w for w in config_warnings(cfg, old) if w.startswith("experiment")]
    assert "other settings (tpe.gamma)" in w and "more" not in w
    assert not [w for w in config_warnings(old, old) if w.startswith("experiment")]
    for i, key in enumerate(["a", "b", "c", "d", "e", "f", "g"]):
        cfg["model"][key] = i
    (w,) = [w for w in config_warnings(cfg, old) if w.startswith("experiment")]
    assert "settings (model.a, model.b, model.c, model.d, model.e and 3 more)" in w
    del cfg["model"]["g"]
    (w,) = [w for w in config_warnings(cfg, old) if w.startswith("experiment")]
    assert "model.e and 2 more" in w
    del cfg["model"]["f"]
    cfg["tpe"]["gamma"] = old["tpe"]["gamma"]
    (w,) = [w for w in config_warnings(cfg, old) if w.startswith("experiment")]
    assert "(model.a, model.b, model.c, model.d, model.e)" in w


def test_differences_are_the_dotted_keys_that_decide_results():
    old = {"a": {"x": 1, "y": {"z": 2}}, "b": 1, 3: "n", "run": {"seeds": [0]}, "gone": 1}
    new = {"a": {"x": 1, "y": {"z": 3}}, "b": {"c": 1}, 3: "n", "run": {"seeds": [1]}, "new": 2}
    assert _differences(old, new) == ["a.y.z", "b", "gone", "new"]
    assert _differences({"run": 1, "x": {"run": 1}}, {"run": 2, "x": {"run": 2}}) == ["x.run"]


# --- the command line and the run's recorded config ------------------------------------------


def test_command_line_values_arrive_typed():
    assert typed({"a": "3", "b": ["1.5", "true", "FALSE", "null", "~", "x"]}) == {
        "a": 3, "b": [1.5, True, False, None, None, "x"],
    }  # fmt: skip
    assert typed("True") is True and typed(("2",)) == [2] and typed(7) == 7


def test_load_layers_reads_key_value_pairs_and_yaml_in_them(tmp_path):
    cfg = load_layers(cli=["experiment=e2", "tpe={n_startup_jobs: 5, gamma: 0.3}"])
    assert cfg["experiment"] == "e2" and cfg["tpe"]["n_startup_jobs"] == 5
    assert cfg["tpe"]["gamma"] == 0.3 and cfg["tpe"]["n_ei_candidates"] == 24  # the rest kept
    mine = tmp_path / "mine.yaml"
    mine.write_text("hpo: {iterations: 7}\n")
    assert load_layers([mine])["hpo"]["iterations"] == 7
    assert load_layers()["hpo"]["iterations"] == 100


def test_a_runs_config_is_recorded_once_and_read_back(tmp_path):
    path = tmp_path / "results" / "e" / "run-config.yaml"
    assert recorded_run_config("e", tmp_path) is None
    record_run_config({"b": 1, "a": {"x": [1, 2]}}, path)
    assert path.read_text() == "b: 1\na:\n  x:\n  - 1\n  - 2\n"  # in the config's order
    assert recorded_run_config("e", tmp_path) == ({"b": 1, "a": {"x": [1, 2]}}, path)
    before = path.stat().st_mtime_ns
    record_run_config({"b": 1, "a": {"x": [1, 2]}}, path)  # the same: not written again
    assert path.stat().st_mtime_ns == before
    record_run_config({"b": 2}, path)
    assert recorded_run_config("e", tmp_path)[0] == {"b": 2}


# --- what the schema says, and where a problem was set ---------------------------------------


def problems_of(tmp_path, overlay):
    import yaml

    from gsos.config import ROOT as CHECKOUT
    from gsos.config import ConfigError, load_config, load_schema

    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(overlay))
    schema = load_schema(CHECKOUT / "workflow" / "schemas" / "config.schema.yaml")
    try:
        load_config(CHECKOUT / "config" / "config.yaml", [path], None, schema)
    except ConfigError as e:
        return [line.removeprefix("  - ") for line in str(e).splitlines()[1:]]
    return []


def test_an_unknown_key_is_answered_with_the_keys_allowed_there(tmp_path):
    (p,) = problems_of(tmp_path, {"tpe": {"nope": 1}})
    assert p.startswith("tpe: Additional properties are not allowed ('nope' was unexpected)")
    assert "allowed keys here: gamma, n_ei_candidates, n_startup_jobs [set in" in p
    (top,) = problems_of(tmp_path, {"nope": 1})
    assert top.startswith("(top level): Additional properties") and "datasets, device" in top


def test_a_missing_key_is_said_plainly_and_a_bad_value_with_what_the_key_is_for(tmp_path):
    (missing,) = problems_of(tmp_path, {"datasets": {"x": {"image_size": 8}}})
    assert missing.startswith("datasets.x: 'source' is a required property [set in")
    (bad,) = problems_of(tmp_path, {"hpo": {"iterations": "many"}})
    assert "'many' is not of type 'integer' (evaluations per run of the strategies" in bad
    (plain,) = problems_of(tmp_path, {"tpe": {"gamma": "x"}})  # a key without a description
    assert plain.startswith("tpe.gamma: 'x' is not of type 'number' [set in")


def test_strategy_and_algorithm_names_are_checked_against_the_registry(tmp_path):
    (p,) = problems_of(tmp_path, {"run": {"strategies": ["nope"]}})
    assert p.startswith("run.strategies.0: 'nope' is not one of ['gsos', 'simultaneous'")
    (p,) = problems_of(tmp_path, {"gsos": {"inner": "nope"}})
    assert "(the algorithm inside each group of the 'gsos' strategy (paper - TPE))" in p
    (p,) = problems_of(tmp_path, {"gsos": {"continuous_inner": "hyperband"}})
    assert p.startswith("gsos.continuous_inner: 'hyperband' is not one of [None, 'tpe'")
    assert "(the algorithm for the 'gsos' groups whose members are all continuous" in p
    assert not [
        p for p in problems_of(tmp_path, {"gsos": {"continuous_inner": "cmaes"}})
        if "is not one of" in p
    ]  # fmt: skip


def test_a_problem_names_the_file_that_set_its_keys():
    from gsos.config import _with_origin, where_set

    origin = {"datasets.Kuzushiji_49": "mine.yaml", "tpe": "a.yaml", "hpo.iterations": "b.yaml"}
    assert where_set("datasets.Kuzushiji_49.split.test", origin) == "mine.yaml"
    assert where_set("datasets.Other.split", origin) is None
    assert _with_origin("datasets.Kuzushiji_49.split: bad", origin) == (
        "datasets.Kuzushiji_49.split: bad [set in mine.yaml]"
    )
    assert _with_origin("tpe.gamma: too big for hpo.iterations", origin) == (
        "tpe.gamma: too big for hpo.iterations [tpe.gamma set in a.yaml; hpo.iterations set in "
        "b.yaml]"
    )
    assert _with_origin("model.depth: bad", origin) == "model.depth: bad"  # set nowhere known
    said = "tpe.gamma: bad [set in c.yaml]"
    assert _with_origin(said, origin) == said  # already said
    assert _with_origin("the run writes to x [a folder, not a config key]", origin).endswith(
        "not a config key]"
    )


def test_the_experiment_is_named_by_the_last_file_or_the_defaults():
    from gsos.config import CLI, Layer, experiment_name

    assert experiment_name([]) == ("default", "config/config.yaml")
    assert experiment_name([Layer("d.yaml", {}), Layer(CLI, {})]) == ("default", "d.yaml")
    name, source = experiment_name([Layer("d.yaml", {}), Layer("x/mine.yaml", {})])
    assert name == "mine" and source.startswith("x/mine.yaml: the experiment is named after")
    assert experiment_name([Layer("d.yaml", {}), Layer(CLI, {"experiment": "e"})]) == ("e", CLI)


def test_command_line_values_may_hold_an_equals_sign_or_a_word_yaml_would_read(tmp_path):
    cfg = load_layers(cli=["gsos={note: a=b}", "experiment=yes", "run={seeds: [3, 4]}"])
    assert cfg["gsos"]["note"] == "a=b" and cfg["experiment"] == "yes"
    assert cfg["run"]["seeds"] == [3, 4]


def test_load_layers_validates_and_checks_files_only_when_asked(tmp_path, monkeypatch):
    from gsos.config import ConfigError

    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "datasets: {f: {source: {kind: folder, path: nowhere}, image_size: 8, channels: 1}}\n"
        "run: {datasets: [f]}\n"
    )
    assert load_layers([mine])["run"]["datasets"] == ["f"]
    with pytest.raises(ConfigError, match="datasets.f.source.path: nowhere: no such folder"):
        load_layers([mine], check_files=True)
    mine.write_text("hpo: {iterations: many}\n")
    with pytest.raises(ConfigError, match="hpo.iterations"):
        load_layers([mine])


def test_gsos_with_hyperband_inside_is_warned_as_gsos_not_as_a_tpe_user(cfg):
    with_space(cfg, epoch={"type": "int", "low": 1, "high": 2, "default": 1})
    cfg["run"]["strategies"] = ["gsos"]
    cfg["gsos"]["inner"] = "hyperband"
    cfg["tpe"]["n_startup_jobs"] = 100
    warnings = config_warnings(cfg)
    (w,) = [w for w in warnings if "one rung" in w]
    assert w.startswith("hyperband:") and "gsos trains every configuration" in w
    assert not [w for w in warnings if w.startswith("tpe.")]


def test_a_dataset_the_run_names_but_does_not_define_is_left_to_its_own_check(cfg):
    cfg["run"]["datasets"] = ["nowhere"]
    assert filesystem_problems(cfg) == []


def test_a_dataset_without_a_size_does_not_end_the_look_at_the_others(cfg):
    cfg["datasets"]["nosize"] = {"source": {"kind": "embedded", "name": "digits"}}
    cfg["run"]["datasets"] = ["nosize", "digits"]
    with_space(cfg, num_conv_layers={"type": "choice", "values": [2, 6], "default": 2})
    assert [w for w in config_warnings(cfg) if "image of digits" in w]


@pytest.mark.parametrize("size, pool, layers, warned", [(10, 3, 5, True), (8, 2, 5, False)])
def test_single_pixel_maps_are_counted_as_the_network_pools(cfg, size, pool, layers, warned):
    """10×10 pooled by 3 is 3×3, then 1×1 (two layers), as integer pooling goes; 8×8 by 2
    is 1×1 after three, and 5 layers leave just 2 more: allowed."""
    cfg["datasets"]["digits"]["image_size"] = size
    cfg["model"]["pool_size"] = pool
    with_space(cfg, num_conv_layers={"type": "choice", "values": [2, layers], "default": 2})
    found = [w for w in config_warnings(cfg) if "convolve single pixels" in w]
    assert bool(found) == warned
    if warned:
        assert "after 2 (pool 3): the other 3" in found[0]


def test_six_changes_are_five_named_and_one_more(cfg):
    old = copy.deepcopy(cfg)
    for i, key in enumerate("abcdef"):
        cfg["model"][key] = i
    (w,) = [w for w in config_warnings(cfg, old) if w.startswith("experiment")]
    assert "model.e and 1 more)" in w


# --- reading and layering config files -------------------------------------------------------


def layered_config(tmp_path, *texts, cli=None, validate=True):
    from gsos.config import ROOT as CHECKOUT
    from gsos.config import load_config, load_schema

    files = []
    for i, text in enumerate(texts):
        files.append(tmp_path / f"f{i}.yaml")
        files[-1].write_text(text)
    schema = load_schema(CHECKOUT / "workflow" / "schemas" / "config.schema.yaml")
    return load_config(
        CHECKOUT / "config" / "config.yaml", files, cli, schema if validate else None
    )


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    from gsos.config import ConfigError, load_yaml

    path = tmp_path / "twice.yaml"
    path.write_text("hpo: {iterations: 5}\ntpe:\n  gamma: 0.2\n  gamma: 0.3\n")
    with pytest.raises(ConfigError, match=r"twice.yaml:4:3: .*duplicate key 'gamma' \(first at "
                                          r"line 3\)"):  # fmt: skip
        load_yaml(path)
    path.write_text("a: {b: [1, {c: 2}]}\nd: x\n")
    assert load_yaml(path) == {"a": {"b": [1, {"c": 2}]}, "d": "x"}  # nested, whole


def test_a_config_file_that_cannot_be_read_or_parsed_is_named(tmp_path):
    from gsos.config import ConfigError, load_yaml

    with pytest.raises(ConfigError, match=r"cannot read the config file \(Is a directory\)"):
        load_yaml(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("hpo: {iterations: 5\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2:1: YAML syntax error: expected ','"):
        load_yaml(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: a config file must be a mapping of keys, "
                                          "not a list"):  # fmt: skip
        load_yaml(bad)
    bad.write_text("")
    assert load_yaml(bad) == {}


def test_later_files_override_key_by_key_and_are_named_as_the_source(tmp_path):
    from gsos.config import Layer, merge

    layers = [Layer("d", {"tpe": {"gamma": 0.25, "n": 15}, "x": 1}),
              Layer("a", {"tpe": {"gamma": 0.3}}), Layer("b", {"x": 2})]  # fmt: skip
    cfg, origin, problems, removed = merge(layers)
    assert cfg == {"tpe": {"gamma": 0.3, "n": 15}, "x": 2} and not problems and not removed
    assert (origin["tpe.gamma"], origin["x"]) == ("a", "b")
    layers[0].values["tpe"]["gamma"] = 0.1  # the merged config is a copy of no layer
    assert cfg["tpe"]["gamma"] == 0.3


def test_null_removes_a_mapping_and_forgets_where_its_keys_were_set(tmp_path):
    from gsos.config import Layer, merge

    layers = [Layer("d", {"datasets": {"a": {"k": 1}, "b": {"k": 2}}, "search_space": {}}),
              Layer("mine", {"datasets": {"a": None}, "v": None})]  # fmt: skip
    cfg, origin, problems, removed = merge(layers)
    assert cfg["datasets"] == {"b": {"k": 2}} and cfg["v"] is None
    assert removed == {"datasets.a": ({"k": 1}, "mine")}
    assert origin["datasets.a"] == "mine" and "datasets.a.k" not in origin
    first = merge([Layer("d", {"a": None}), Layer("m", {"a": {"x": 1}})])[0]
    assert first == {"a": {"x": 1}}  # the defaults' null is a value, not a removal


def test_a_mapping_replacing_a_value_forgets_where_its_old_keys_were_set():
    from gsos.config import Layer, merge

    cfg, origin, _, _ = merge([Layer("d", {"a": {"b": {"c": 1}}}), Layer("m", {"a": {"b": 5}}),
                               Layer("n", {"a": {"b": {"e": 2}}})])  # fmt: skip
    assert cfg == {"a": {"b": {"e": 2}}}
    assert origin["a.b"] == "n" and "a.b.c" not in origin


def test_an_empty_mapping_over_a_full_one_is_reported(tmp_path):
    problems = problems_of(tmp_path, {"tpe": {}})
    (p,) = [p for p in problems if p.startswith("tpe:")]
    assert "an empty mapping in" in p and "changes nothing" in p


def test_a_hyperparameter_removed_from_the_search_keeps_its_default_as_fixed(tmp_path):
    cfg = layered_config(tmp_path, "search_space: {kernel: null}\n", validate=False)
    assert "kernel" not in cfg["search_space"] and cfg["fixed"]["kernel"] == 3
    both = "search_space: {kernel: null}\nfixed: {kernel: 5}\n"
    mine = layered_config(tmp_path, both, validate=False)
    assert mine["fixed"]["kernel"] == 5  # the file's own value wins
    from gsos.config import keep_removed_fixed

    cfg, origin = {"fixed": {}}, {}
    keep_removed_fixed(cfg, origin, {"search_space.kernel": ({"default": 3}, "f.yaml"),
                                     "datasets.x": ({"default": 1}, "f.yaml"),
                                     "search_space.a.b": ({"default": 2}, "f.yaml"),
                                     "search_space.lr": ("not a mapping", "f.yaml")})  # fmt: skip
    assert cfg == {"fixed": {"kernel": 3}} and origin == {"fixed.kernel": "f.yaml"}
    bare = {}
    keep_removed_fixed(bare, {}, {"search_space.kernel": ({"default": 3}, "f")})
    assert bare == {"fixed": {"kernel": 3}}


def test_too_many_rungs_name_the_budget_they_halve(tmp_path):
    (p,) = [p for p in problems_of(tmp_path, {"hyperband": {"eta": 1.001}}) if "rungs" in p]
    assert p.startswith("hyperband.eta: 1.001 over epochs 1..9 makes ")
    (p,) = [p for p in problems_of(tmp_path, {"hyperband_data": {"eta": 1.001}}) if "rungs" in p]
    assert p.startswith("hyperband_data.eta: 1.001 over data share 0.1111..1 makes ")


def test_an_epoch_that_is_not_a_searched_range_gives_hyperband_no_rungs_to_check(cfg):
    from gsos.config import fidelity_ranges

    assert set(fidelity_ranges(cfg)) == {"hyperband", "bohb", "hyperband_data"}
    del cfg["search_space"]["epoch"]
    assert set(fidelity_ranges(cfg)) == {"hyperband_data"}
    cfg["search_space"]["epoch"] = {"type": "choice", "values": [1, 3], "high": 3}
    assert set(fidelity_ranges(cfg)) == {"hyperband_data"}
    cfg["search_space"]["epoch"] = {"type": "int", "low": 1}
    assert set(fidelity_ranges(cfg)) == {"hyperband_data"}


WD = {"type": "loguniform", "low": 1e-6, "high": 1e-2, "default": 1e-4}


@pytest.mark.parametrize(
    "strategies, space, gsos, says",
    [
        (["bilevel_vf"], {}, {}, "run.strategies: bilevel_vf searches weight_decay"),
        (["gsos"], {}, {"continuous_inner": "bilevel_vf"}, "run.strategies: bilevel_vf searches"),
        (["bilevel_vf"], {"weight_decay": {**WD, "type": "uniform"}}, {},
         "search_space.weight_decay: bilevel_vf works on log"),
        (["gsos"], {"weight_decay": WD}, {"inner": "bilevel_vf"},
         "gsos.inner: bilevel_vf searches"),
        (["gsos"], {"weight_decay": WD}, {"continuous_inner": "bilevel_vf"},
         "gsos.continuous_inner: bilevel_vf searches only weight_decay; group G1 also holds"),
    ],
)  # fmt: skip
def test_bilevel_vf_needs_weight_decay_searched_alone_on_its_log_scale(
    cfg, strategies, space, gsos, says
):
    from gsos.config import _bilevel_vf_problems

    g = {
        "inner": "tpe",
        "continuous_inner": None,
        "groups": [
            {"name": "G1", "params": ["lr", "weight_decay"]},
            {"name": "G2", "params": ["kernel"]},
        ],
    }
    problems = _bilevel_vf_problems(space, {**g, **gsos}, strategies)
    assert [p for p in problems if p.startswith(says)], problems
    fine = _bilevel_vf_problems({"weight_decay": WD}, g, ["bilevel_vf", "gsos"])
    assert fine == []
    alone = {
        **g,
        "continuous_inner": "bilevel_vf",
        "groups": [{"name": "G1", "params": ["lr"]}, {"name": "W", "params": ["weight_decay"]}],
    }
    assert _bilevel_vf_problems({"weight_decay": WD}, alone, ["gsos"]) == []


# --- checks a schema cannot make ---------------------------------------------------------------


def semantic(cfg, broken=frozenset()):
    from gsos.config import semantic_problems

    return semantic_problems(cfg, set(broken))


def only(problems, start):
    found = [p for p in problems if p.startswith(start)]
    assert len(found) == 1, problems
    return found[0]


def test_bilevel_needs_the_rates_it_descends(cfg):
    cfg["run"]["strategies"] = ["bilevel"]
    assert not [p for p in semantic(cfg) if "bilevel" in p]
    cfg["fixed"] = {"dropout_rate": 0.1}
    del cfg["search_space"]["dropout_rate"]
    cfg["gsos"]["groups"][0]["params"].remove("dropout_rate")
    assert only(semantic(cfg), "run.strategies: bilevel") == (
        "run.strategies: bilevel needs ['dropout_rate'] in search_space"
    )


def test_gsos_with_bilevel_inside_must_use_it_for_continuous_groups_only(cfg):
    cfg["gsos"]["inner"] = "bilevel"
    assert "set gsos.continuous_inner: bilevel instead" in only(semantic(cfg), "gsos.inner:")


def test_a_continuous_inner_algorithm_needs_an_evaluation_inner_and_a_continuous_group(cfg):
    cfg["gsos"]["continuous_inner"] = "cmaes"
    assert "would search no group" in only(semantic(cfg), "gsos.continuous_inner:")
    cfg["gsos"]["groups"] = [
        {"name": "C", "params": ["lr", "dropout_rate"], "share": 1},
        {"name": "R", "params": [n for n in cfg["search_space"] if n not in ("lr",
                                 "dropout_rate")], "share": 1},
    ]  # fmt: skip
    assert not [p for p in semantic(cfg) if p.startswith("gsos.continuous_inner")]
    cfg["gsos"]["inner"] = "hyperband"
    assert only(semantic(cfg), "gsos.continuous_inner:") == (
        "gsos.continuous_inner: hyperband (gsos.inner) spends a training cost, cmaes "
        "evaluations; use them apart"
    )


def test_continuous_bilevel_groups_hold_only_the_rates(cfg):
    cfg["search_space"]["weight_decay"] = WD
    cfg["gsos"]["continuous_inner"] = "bilevel"
    cfg["gsos"]["groups"] = [
        {"name": "C", "params": ["lr", "dropout_rate", "weight_decay"], "share": 1},
        {"name": "R", "params": [n for n in cfg["search_space"] if n not in ("lr",
                                 "dropout_rate", "weight_decay")], "share": 1},
    ]  # fmt: skip
    assert only(semantic(cfg), "gsos.continuous_inner:") == (
        "gsos.continuous_inner: bilevel descends only ['dropout_rate', 'lr']; group C also "
        "holds ['weight_decay']"
    )


def test_every_hyperparameter_the_cnn_reads_is_searched_or_fixed(cfg):
    del cfg["search_space"]["kernel"]
    cfg["gsos"]["groups"][2]["params"].remove("kernel")
    p = only(semantic(cfg), "search_space: kernel")
    assert "neither searched nor fixed" in p and "fixed (kernel: <value>)" in p
    cfg["fixed"] = {"kernel": 5}
    assert not [p for p in semantic(cfg) if p.startswith("search_space: kernel")]


def test_strategies_that_spend_epochs_need_epoch_searched(cfg):
    cfg["fixed"] = {"epoch": 3}
    del cfg["search_space"]["epoch"]
    cfg["gsos"]["groups"][1]["params"].remove("epoch")
    cfg["run"]["strategies"] = ["simultaneous", "hyperband", "gsos"]
    p = only(semantic(cfg), "run.strategies: hyperband")
    assert "spends epochs as its budget, so it needs epoch in search_space" in p
    assert not [p for p in semantic(cfg) if p.startswith(("run.strategies: gsos",
                                                           "run.strategies: simul"))]  # fmt: skip
    cfg["gsos"]["inner"] = "bohb"  # GSOS with BOHB inside spends epochs too
    assert only(semantic(cfg), "run.strategies: gsos ")


def test_a_dataset_the_run_names_must_be_defined(cfg):
    cfg["run"]["datasets"] = ["digits", "nowhere"]
    assert only(semantic(cfg), "run.datasets:") == (
        "run.datasets: 'nowhere' is not defined under datasets (defined: ['digits'])"
    )
    assert not [p for p in semantic(cfg, {"datasets"}) if p.startswith("run.datasets")]


def test_checks_of_keys_the_schema_refused_are_skipped(cfg):
    cfg["run"]["datasets"] = ["nowhere"]
    del cfg["search_space"]["kernel"]
    assert semantic(cfg)
    assert semantic(cfg, {"search_space", "run.datasets"}) == []
    cfg["search_space"]["kernel"] = {"type": "choice", "values": [3, 5], "default": 3}
    cfg["hpo"]["iterations"] = 2  # fewer than the groups
    assert only(semantic(cfg, {"run.datasets"}), "hpo.iterations:")
    assert not [p for p in semantic(cfg, {"hpo", "run"}) if p.startswith("hpo.iterations")]


def test_a_wrongly_typed_strategy_list_is_said_not_a_traceback(tmp_path):
    """run.strategies: 5 crashed the measured-groups check with a TypeError."""
    problems = problems_of(tmp_path, {"run": {"strategies": 5}})
    assert [p.split(" (")[0] for p in problems] == ["run.strategies: 5 is not of type 'array'"]


@pytest.mark.parametrize(
    "overlay, key",
    [
        ({"pilot": {"strategy": 5}}, "pilot.strategy"),
        ({"run": {"seeds": 5}}, "run.seeds"),
        ({"run": {"datasets": 5}}, "run.datasets"),
        ({"measured_groups": {"rule": {"sizes": "x"}}}, "measured_groups.rule.sizes"),
        ({"hyperband": {"eta": "x"}}, "hyperband.eta"),
        ({"bohb": {"eta": "x"}}, "bohb.eta"),
        ({"hyperband_data": {"eta": "x"}}, "hyperband_data.eta"),
        ({"search_space": {"epoch": {"type": "int", "low": "x", "high": 9, "default": 1}}},
         "search_space.epoch.low"),
        ({"search_space": [1, 2]}, "search_space"),
        ({"search_space": {"epoch": {"type": "int", "low": 0, "high": 9, "default": 1}}},
         "search_space.epoch.low"),  # no rungs counted from 0 epochs
        ({"fixed": 5}, "fixed"),
        ({"gsos": 5}, "gsos"),
        ({"hyperband": {"eta": float("inf")}}, "hyperband.eta"),
        ({"datasets": {"digits": {"source": {"path": 5, "kind": "folder"}}}},
         "datasets.digits.source.path"),
    ],
)  # fmt: skip
def test_a_section_the_schema_refused_is_said_once_and_checked_no_further(tmp_path, overlay, key):
    """Every check that reads a refused key is skipped: one message, no traceback and no
    second, confused message about the same thing."""
    problems = problems_of(tmp_path, overlay)
    assert len(problems) == 1 and problems[0].startswith(f"{key}: "), problems


def test_wrongly_typed_sections_are_skipped_by_the_strategy_and_bilevel_checks(tmp_path, cfg):
    cfg["run"]["strategies"] = 5
    del cfg["search_space"]["epoch"]
    cfg["gsos"]["groups"][1]["params"].remove("epoch")
    cfg["fixed"] = {"epoch": 1}
    from gsos.config import semantic_problems

    assert not [p for p in semantic_problems(cfg, {"run.strategies"}) if "spends epochs" in p]


def test_the_file_checks_skip_what_the_schema_refused_and_add_to_its_problems(
    tmp_path, monkeypatch
):
    from gsos.config import ROOT as CHECKOUT
    from gsos.config import ConfigError, load_config, load_schema

    monkeypatch.chdir(tmp_path)
    schema = load_schema(CHECKOUT / "workflow" / "schemas" / "config.schema.yaml")
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "datasets: {f: {source: {kind: folder, path: nowhere}, image_size: 8, channels: 1},\n"
        "           g: {source: {kind: folder, path: 5}, image_size: 8, channels: 1}}\n"
        "run: {datasets: [f, g]}\ntpe: {gamma: x}\n"
    )
    (tmp_path / "results").write_text("a file where the folder goes")
    with pytest.raises(ConfigError) as e:
        load_config(CHECKOUT / "config" / "config.yaml", [mine], None, schema, check_files=True)
    lines = [line.removeprefix("  - ").split(":")[0] for line in str(e.value).splitlines()[1:]]
    # the datasets are not looked at (one of them is refused), the output folders are
    assert lines == ["datasets.g.source.path", "tpe.gamma", "the run writes to results/mine"]


def test_validation_leaves_the_callers_config_alone_and_fills_every_datasets_defaults(cfg):
    import jsonschema  # noqa: F401

    from gsos.config import ROOT as CHECKOUT
    from gsos.config import load_schema, validate_config

    schema = load_schema(CHECKOUT / "workflow" / "schemas" / "config.schema.yaml")
    cfg["datasets"]["mine"] = {"source": {"kind": "folder", "path": "nowhere"}, "image_size": 8,
                               "channels": 1}  # fmt: skip
    before = copy.deepcopy(cfg)
    out = validate_config(cfg, schema)  # files are not checked unless asked
    assert cfg == before
    assert "split" in out["datasets"]["mine"] and "split" not in out["run"]
    out["datasets"]["mine"]["split"]["validation"] = 0.5
    again = validate_config(before, schema)
    assert again["datasets"]["mine"]["split"]["validation"] != 0.5  # defaults not shared


def test_a_missing_section_is_named_without_a_description(tmp_path):
    (p,) = problems_of(tmp_path, {"fixed": None})
    assert p == "(top level): 'fixed' is a required property"


def test_a_non_finite_number_is_named_by_its_whole_path(tmp_path):
    from gsos.config import nonfinite_problems

    assert nonfinite_problems({"a": {"b": [1.0, float("nan")]}, "c": float("inf")}) == [
        "a.b[1]: nan is not a finite number", "c: inf is not a finite number",
    ]  # fmt: skip
    assert nonfinite_problems(float("inf")) == ["(top level): inf is not a finite number"]


def test_twelve_rungs_are_allowed_thirteen_are_not(tmp_path):
    assert problems_of(tmp_path, {"hyperband": {"eta": 1.21}}) == []  # 12 rungs over 1..9
    (p,) = problems_of(tmp_path, {"hyperband": {"eta": 1.2}})
    assert "makes 13 rungs of successive halving (at most 12)" in p


def test_pilot_runs_need_a_strategy_that_is_not_measured_itself(cfg):
    cfg["pilot"]["strategy"] = "gsos_measured"
    p = only(semantic(cfg), "pilot.strategy:")
    assert p.startswith("pilot.strategy: 'gsos_measured' is not one of ['gsos', 'simultaneous'")
    assert "'gsos_measured'" not in p.split("is not one of")[1]


def test_measured_groups_need_their_file_two_datasets_to_leave_one_out_and_a_share_each(cfg):
    mg = cfg["measured_groups"]
    mg["source"], mg["weights_file"] = "file", None
    assert only(semantic(cfg), "measured_groups.weights_file:")
    mg["weights_file"] = "w.json"
    assert not [p for p in semantic(cfg) if p.startswith("measured_groups.weights_file")]
    mg["source"] = "leave_one_out"
    assert not [p for p in semantic(cfg) if "leave_one_out" in p]  # no gsos_measured in the run
    cfg["run"]["strategies"] = ["gsos_measured"]
    assert "run.datasets has only one" in only(semantic(cfg), "measured_groups.source:")
    mg["source"] = "same"
    mg["rule"] = {"cumulative": [0.5, 0.8]}  # three groups
    mg["shares"] = [4, 3]
    assert "2 share(s) [4, 3] for the 3 group(s)" in only(semantic(cfg), "measured_groups.shares")
    mg["budget"] = "proportional"  # no shares read
    assert not [p for p in semantic(cfg) if p.startswith("measured_groups.shares")]


def test_a_split_reads_its_defaults_and_an_official_test_source(cfg):
    from gsos.config import _split_problems

    def split_of(d):
        return _split_problems({"datasets": {"x": d}}, set())

    embedded = {"source": {"kind": "embedded", "name": "digits"}}
    assert split_of({**embedded, "split": {"test": 0.85}})  # validation 0.2 by default
    assert split_of({**embedded, "split": {"validation": 0.85}})  # test 0.2 by default
    assert not split_of({**embedded, "split": {"validation": 0.75}})
    assert not split_of({"source": {"kind": "x", "test": "t"}, "split": {"validation": 0.9}})
    assert _split_problems({"datasets": {"x": embedded}}, {"datasets"}) == []


def test_a_removed_entry_without_a_default_leaves_fixed_alone():
    from gsos.config import keep_removed_fixed

    cfg = {"fixed": {}}
    keep_removed_fixed(cfg, {}, {"search_space.x": ({"type": "uniform", "low": 0}, "f")})
    assert cfg == {"fixed": {}}


def test_merging_forgets_the_origins_of_what_a_later_file_removes_and_goes_on():
    from gsos.config import Layer, merge

    last = {"datasets": {"a": None, "b": {"k": 3}}, "tpe": {}, "hpo": 7}
    layers = [
        Layer("d", {"datasets": {"a": {"k": 1}}, "tpe": {"g": 1}}),
        Layer("m", {"datasets": {"a": {"k": 2}}}),
        Layer("n", last),
    ]
    cfg, origin, problems, _ = merge(layers)
    assert "datasets.a.k" not in origin and origin["datasets.a"] == "n"
    assert cfg["datasets"] == {"b": {"k": 3}} and cfg["hpo"] == 7  # after the null and {}
    assert len(problems) == 1 and problems[0].startswith("tpe: an empty mapping")


def test_merged_values_share_nothing_with_the_files():
    from gsos.config import Layer, merge

    layer = Layer("d", {"a": {"b": {"c": 1}}})
    cfg = merge([layer])[0]
    layer.values["a"]["b"]["c"] = 2
    assert cfg["a"]["b"]["c"] == 1


def test_validate_config_checks_files_only_when_asked(cfg, tmp_path, monkeypatch):
    from gsos.config import ROOT as CHECKOUT
    from gsos.config import ConfigError, load_schema, validate_config

    monkeypatch.chdir(tmp_path)
    schema = load_schema(CHECKOUT / "workflow" / "schemas" / "config.schema.yaml")
    folder_dataset(cfg, tmp_path / "nowhere")
    validate_config(cfg, schema)
    with pytest.raises(ConfigError, match="no such folder"):
        validate_config(cfg, schema, check_files=True)


def test_measured_checks_skip_a_refused_dataset_list_or_space(tmp_path):
    for overlay, key in [
        ({"run": {"strategies": ["gsos_measured"], "datasets": 5}}, "run.datasets"),
        ({"run": {"strategies": ["gsos_measured"]}, "search_space": [1]}, "search_space"),
    ]:
        problems = problems_of(tmp_path, overlay)
        assert [p.split(":")[0] for p in problems] == [key], problems


def test_leave_one_out_needs_two_datasets_and_adaptive_budgets_a_share_per_group(cfg):
    cfg["run"]["strategies"] = ["gsos_measured"]
    cfg["datasets"]["copy"] = copy.deepcopy(cfg["datasets"]["digits"])
    cfg["run"]["datasets"] = ["digits", "copy"]
    cfg["measured_groups"]["source"] = "leave_one_out"
    assert not [p for p in semantic(cfg) if p.startswith("measured_groups.source")]
    mg = cfg["measured_groups"]
    mg["rule"], mg["shares"], mg["budget"] = {"cumulative": [0.5]}, [1, 1, 1], "adaptive"
    assert "3 share(s) [1, 1, 1] for the 2 group(s)" in only(semantic(cfg), "measured_groups.sh")
    mg["rule"] = {"cumulative": []}  # no cuts: no group count to check against
    assert not [p for p in semantic(cfg) if p.startswith("measured_groups.shares")]


def test_a_split_says_its_sum_and_takes_validation_by_default(cfg):
    from gsos.config import _split_problems

    embedded = {"source": {"kind": "embedded", "name": "digits"}}
    assert not _split_problems({"datasets": {"x": {**embedded, "split": {"test": 0.7}}}}, set())
    split = {"validation": 0.7, "test": 0.4}
    (p,) = _split_problems({"datasets": {"x": {**embedded, "split": split}}}, set())
    assert "validation 0.7 + test 0.4 = 1.1 leaves no images" in p


def test_a_yaml_error_without_a_position_still_names_the_file(tmp_path):
    from gsos.config import ConfigError, load_yaml

    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"hpo: {iterations: 5}\n\x07\n")  # a control character: no parse at all
    with pytest.raises(ConfigError, match=r"bad.yaml(:\d+:\d+)?: YAML syntax error"):
        load_yaml(bad)


def test_a_list_given_on_the_command_line_is_read_as_a_list(tmp_path):
    from gsos.config import ConfigError

    with pytest.raises(ConfigError, match=r"fixed: \[1, 2\] is not of type 'object'"):
        load_layers(cli=["fixed=[1, 2]"])
