"""Regenerate the golden records of tests/test_golden.py (run from the repository root).

    python3 -m uv run python tests/golden/make_golden.py

The golden files pin what GSOS and simultaneous propose and record for fixed seeds. They
were first written from the code as it stood before the strategy interface (commit 4f44148);
regenerate them only for a change that is meant to alter records, and say so in its commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from test_golden import real_records, synthetic_records  # noqa: E402

if __name__ == "__main__":
    for strategy in ("gsos", "simultaneous"):
        for name, records in (
            (f"{strategy}_synthetic.json", synthetic_records(strategy)),
            (f"{strategy}_digits.json", real_records(strategy, HERE / "work")),
        ):
            (HERE / name).write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
            print(name, len(records))
