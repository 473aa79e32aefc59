"""A stand-in for torch that can use the GPUs a fake nvidia-smi lists, for workflow tests.

Python imports ``sitecustomize`` at start-up from the path, so every process of a test run
started with this folder on PYTHONPATH (Snakemake and each of its jobs) loads it. Those
runs list GPUs with a fake nvidia-smi to test binding and slot counting; this machine's
torch cannot use them, which now stops the run (issue 29, defect 4). Here that check says
"usable", and ``device: auto`` then trains on the CPU, as it did before the check: the
tested thing is the scheduling, not the device. The check itself is tested in
tests/test_device.py, without this file.
"""

import gsos.training.gpus as _gpus

_gpus.torch_gpu_problem = lambda found: None
