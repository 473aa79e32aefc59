"""GSOS: grouped sequential hyperparameter optimisation of CNNs."""
