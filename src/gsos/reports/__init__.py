"""What people read, from the runs' records.

- :mod:`~gsos.reports.paper`: the paper's Tables 3 and 4 and headline, beside the published;
- :mod:`~gsos.reports.strategies`: every strategy compared at equal cost, and ranks;
- :mod:`~gsos.reports.stats`: intervals and paired tests;
- :mod:`~gsos.reports.figures`: Figures 1 and 2 and every other figure;
- :mod:`~gsos.reports.importance`: Figure 1's table and the measured-groups table;
- :mod:`~gsos.reports.table5`: the paper's TPE timing benchmark (Table 5);
- :mod:`~gsos.reports.status`: where every run of an experiment stands;
- :mod:`~gsos.reports.studies`: every run as an Optuna study (optuna-dashboard, Optuna's tools);
- :mod:`~gsos.reports.dashboard`: ``gsos dashboard``, optuna-dashboard live while runs go;
- :mod:`~gsos.reports.formats`: one table as CSV, Markdown, LaTeX and HTML.
"""
