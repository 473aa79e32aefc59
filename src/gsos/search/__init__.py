"""HPO runs: what is searched, by which strategy, and what each run records.

- :mod:`~gsos.search.space`: the search space (paper Table 1) as data;
- :mod:`~gsos.search.groups`: GSOS groups and their budgets;
- :mod:`~gsos.search.optimizers`: every strategy behind one ask/tell interface;
- :mod:`~gsos.search.runner`: the one loop (ask, evaluate or replay, record, tell);
- :mod:`~gsos.search.records`: the crash-safe journal of a run;
- :mod:`~gsos.search.run`: one run set up from its job's inputs (data, trainer, optimiser);
- :mod:`~gsos.search.metrics`: a run's figures (best trial, times, cost);
- :mod:`~gsos.search.importance`, :mod:`~gsos.search.measured`: importance estimated from
  runs, and GSOS groups measured on pilot runs;
- :mod:`~gsos.search.seeds`: seeds derived from a run's seed.
"""
