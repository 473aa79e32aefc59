"""GSOS: grouped sequential hyperparameter optimisation of CNNs, reproducibly.

The package follows the pipeline's stages, in the order data flow through them:

- :mod:`gsos.data`: datasets from their sources to prepared tensors (download, folders,
  decoding, duplicates, splits);
- :mod:`gsos.training`: one configuration trained and evaluated (the CNN, the trainer, its
  optimiser steps, hypergradients, learning curves, GPU binding);
- :mod:`gsos.search`: HPO runs (the search space, groups, one run's loop and records, every
  strategy under :mod:`gsos.search.optimizers`, importance and measured groups);
- :mod:`gsos.reports`: what people read (the paper's tables and figures, every strategy
  compared, statistics, Table 5, run status).

Beside them: :mod:`gsos.cli` (the commands the workflow runs), :mod:`gsos.launch` (``gsos run``:
the workflow checked first, then its report), :mod:`gsos.config` (layers,
schema, checks), :mod:`gsos.errors`, :mod:`gsos.atomic` (whole-or-nothing writes) and
:mod:`gsos.progress` (console progress). Every arrow points down that list: ``data`` imports
nothing of the others, ``reports`` may import everything.
"""
