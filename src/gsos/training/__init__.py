"""One configuration trained and evaluated: the objective behind every HPO iteration.

- :mod:`~gsos.training.model`: the paper's CNN (§5.2) built from a configuration;
- :mod:`~gsos.training.trainer`: train and evaluate one configuration (precision, resume from a
  saved state, data shares, learning curves, early stops);
- :mod:`~gsos.training.descent`: SGD and Adam in foreach kernels, without ``torch.optim``;
- :mod:`~gsos.training.hypergrad`: d(validation loss)/d(learning rate, dropout rate);
- :mod:`~gsos.training.value_function`: seed 003's GP of the value function and augmented
  Lagrangian (bilevel_vf), on plain tensors and as the trainer's hook;
- :mod:`~gsos.training.curves`: learning-curve extrapolation (Domhan et al.);
- :mod:`~gsos.training.gpus`: which GPU a job uses (flock slots).
"""
