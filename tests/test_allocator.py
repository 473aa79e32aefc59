"""The malloc tuning of training jobs (gsos.training.allocator), in processes of their own:
it cannot be undone in the test process."""

import subprocess
import sys

import pytest

LOOP = """
import resource, sys
import torch
from gsos.training.allocator import keep_freed_memory
took = keep_freed_memory() if sys.argv[1] == "keep" else None
x = torch.ones(1)
for _ in range(3):  # the first allocations fault their pages in, either way
    x = torch.empty(16 << 20).fill_(1.0)
    del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a training step's pattern: 64 MB allocated, touched, freed
    x = torch.empty(16 << 20).fill_(1.0)
    del x
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", LOOP, mode], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()  # fmt: skip
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    """Without the tuning, a 64 MB block (above the 32 MiB glibc's threshold rises to: a batch
    of 256 activations of 32 x 64 x 64) freed goes back to the kernel and the next one faults
    its 16,384 pages in again; with it, freed blocks are reused (here: 0 to 4 of 20 blocks
    faulted in, against 10 to 20)."""
    took, kept = faults("keep")
    _, plain = faults("plain")
    assert took == "True"
    # most blocks fault their pages in again: 16,384 faults a block in pages of 4 KiB, 32 in
    # transparent huge pages of 2 MiB (where THP is "always"; 10,880 in all here then)
    assert plain >= 20 * 32 / 2, plain
    assert kept <= plain / 2, (kept, plain)
