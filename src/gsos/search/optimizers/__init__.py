"""HPO strategies behind one ask/tell interface (see :mod:`gsos.search.optimizers.base`).

One strategy per module; :mod:`gsos.search.optimizers.registry` declares them all, and the
workflow, the config schema, the tables and the figures follow that registry.
"""
