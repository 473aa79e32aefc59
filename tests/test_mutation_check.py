"""The mutation check's own rules (bench/mutation.py): prose is left unmutated, and every
module it checks names test files that exist."""

import importlib.util

from conftest import ROOT


def load_check():
    spec = importlib.util.spec_from_file_location("mutation_check", ROOT / "bench" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_messages_are_not_mutated_but_keys_and_statuses_are():
    from mutmut.mutation.file_mutation import create_mutations

    check = load_check()
    code = (
        "def f(r):\n"
        "    if r['status'] == 'ok':\n"
        "        raise ValueError('a message with spaces')\n"
        "    return b'raw bytes here'\n"
    )
    check._skip_prose()
    _, mutations, _, _ = create_mutations("x.py", code)
    changed = {m.mutated_node.value for m in mutations if hasattr(m.mutated_node, "value")}
    assert "'XXstatusXX'" in changed and "'XXokXX'" in changed
    assert not [v for v in changed if isinstance(v, str) and "XXa message" in v]
    assert not [v for v in changed if isinstance(v, str) and "XXraw bytes" in v]


def test_every_checked_module_and_its_tests_exist():
    check = load_check()
    for module, tests in check.MODULES.items():
        assert (ROOT / "src" / "gsos" / module).is_file(), module
        for t in tests:
            if t.startswith("tests/"):
                assert (ROOT / t.split("::")[0]).is_file(), t
