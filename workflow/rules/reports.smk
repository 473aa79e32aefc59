# What people read, in the report's reading order: the summary; every strategy compared; the
# paper's tables and figures (GSOS against simultaneous TPE); importance; Table 5's timing;
# published beside reproduced (only where a dataset of the paper ran).

config["summary_page"] = summary_page()  # the report's first page shows the summary


rule summary:
    input:
        records=run_records(),
        measured=measured_group_files(),
        anytime=f"{REPORTS}/anytime.png",
    output:
        **table_outputs("summary", category=SUMMARY),
        page=f"{REPORTS}/summary_page.html",
    params:
        outdir=lambda wildcards, output: Path(output.summary_csv).parent,
        regime=as_json(
            {
                "experiment": EXPERIMENT,
                "search_space": config["search_space"],
                "model": config["model"],
                "datasets": {d: config["datasets"][d] for d in DATASETS},
            }
        ),
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/summary.log",
    benchmark:
        f"{BENCH}/summary.tsv"
    shell:
        "python -m gsos --log {log} summary --records {input.records}"
        " --measured {input.measured} --anytime {input.anytime}"
        " --regime {params.regime:q} --outdir {params.outdir}"


# Every comparison the report states, as one family: the tables and the summary state a
# difference only where its Holm-adjusted p (from here) is below 0.05.
rule comparisons:
    input:
        records=run_records(),
        measured=measured_group_files(),
    output:
        **table_outputs("comparisons", category=SUMMARY),
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/comparisons.log",
    benchmark:
        f"{BENCH}/comparisons.tsv"
    shell:
        "python -m gsos --log {log} comparisons --records {input.records}"
        " --measured {input.measured} --out {output.comparisons_csv}"


rule strategies:
    input:
        records=run_records(),
        measured=measured_group_files(),
    output:
        **table_outputs(*STRATEGY_TABLES, category=COMPARED),
        anytime=report(f"{REPORTS}/anytime.png", caption="../report/anytime.rst", category=COMPARED),
        anytime_pdf=f"{REPORTS}/anytime.pdf",
        ranks=report(f"{REPORTS}/ranks.png", caption="../report/ranks_plot.rst", category=COMPARED),
        ranks_pdf=f"{REPORTS}/ranks.pdf",
        curves=report(
            f"{REPORTS}/learning_curves.png",
            caption="../report/learning_curves.rst",
            category=COMPARED,
        ),
        curves_pdf=f"{REPORTS}/learning_curves.pdf",
    params:
        outdir=lambda wildcards, output: Path(output.strategies_csv).parent,
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/strategies.log",
    benchmark:
        f"{BENCH}/strategies.tsv"
    shell:
        "python -m gsos --log {log} strategies --records {input.records}"
        " --measured {input.measured} --outdir {params.outdir}"


rule tables:
    input:
        records=run_records(PAPER_PAIR),
        comparisons=f"{REPORTS}/comparisons.csv",
    output:
        **table_outputs(*PAPER_TABLES, category=PAPER),
    params:
        outdir=lambda wildcards, output: Path(output.runs_csv).parent,
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/tables.log",
    benchmark:
        f"{BENCH}/tables.tsv"
    shell:
        "python -m gsos --log {log} tables --records {input.records}"
        " --comparisons {input.comparisons} --outdir {params.outdir}"


rule published:
    input:
        run_records(PAPER_PAIR),
    output:
        **table_outputs(*PUBLISHED_TABLES, category=PUBLISHED),
    params:
        outdir=lambda wildcards, output: Path(output.table3_vs_published_csv).parent,
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/published.log",
    benchmark:
        f"{BENCH}/published.tsv"
    shell:
        "python -m gsos --log {log} published --records {input} --outdir {params.outdir}"


rule figure2:
    input:
        run_records(PAPER_PAIR),
    output:
        png=report(f"{REPORTS}/figure2.png", caption="../report/figure2.rst", category=PAPER),
        pdf=f"{REPORTS}/figure2.pdf",
        convergence=report(
            f"{REPORTS}/convergence.png", caption="../report/convergence.rst", category=PAPER
        ),
        convergence_pdf=f"{REPORTS}/convergence.pdf",
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/figure2.log",
    benchmark:
        f"{BENCH}/figure2.tsv"
    shell:
        "python -m gsos --log {log} figure2 --records {input} --out {output.png}"
        " --convergence {output.convergence}"


rule importance:
    input:
        records=run_records(["simultaneous"]),
        groups=f"{RESULTS}/groups.json",
    output:
        **table_outputs("importance", category=IMPORTANCE),
    params:
        settings=as_json(
            {"search_space": config["search_space"], **config["importance"]}
        ),
    threads: 2  # the refits, one process each (Snakemake caps this at --cores)
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/importance.log",
    benchmark:
        f"{BENCH}/importance.tsv"
    shell:
        "python -m gsos --log {log} importance --records {input.records}"
        " --settings {params.settings:q} --groups {input.groups} --out {output.importance_csv}"
        " --workers {threads}"


rule figure1:
    input:
        groups=f"{RESULTS}/groups.json",
        importance=f"{REPORTS}/importance.csv",
        measured=measured_group_files(),
    output:
        png=report(f"{REPORTS}/figure1.png", caption="../report/figure1.rst", category=IMPORTANCE),
        pdf=f"{REPORTS}/figure1.pdf",
    params:
        note=config["gsos"]["note"],
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/figure1.log",
    benchmark:
        f"{BENCH}/figure1.tsv"
    shell:
        "python -m gsos --log {log} figure1 --groups {input.groups}"
        " --importance {input.importance} --note {params.note:q} --out {output.png}"
        " --measured {input.measured}"


rule measured_importance:
    input:
        measured_group_files(),
    output:
        **table_outputs("measured_importance", category=IMPORTANCE),
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/measured_importance.log",
    benchmark:
        f"{BENCH}/measured_importance.tsv"
    shell:
        "python -m gsos --log {log} measured-table --groups {input}"
        " --out {output.measured_importance_csv}"


# A timing benchmark: run locally it takes every core, so nothing runs beside it while it
# times; on a cluster it is a job of its own.
rule table5:
    output:
        **table_outputs("table5", category=TIMING),
        plot=report(f"{REPORTS}/table5.png", caption="../report/table5_plot.rst", category=TIMING),
        plot_pdf=f"{REPORTS}/table5.pdf",
    params:
        settings=as_json(config["table5"]),
    threads: every_core
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/table5.log",
    benchmark:
        f"{BENCH}/table5.tsv"
    shell:
        "python -m gsos --log {log} table5 --settings {params.settings:q} --out {output.table5_csv}"


# Every run (pilot runs included) as an Optuna study, for optuna-dashboard and the field's other
# viewers: derived from the records whole, never read back (gsos/reports/studies.py says how).
rule optuna_studies:
    input:
        records=run_records(),
        pilots=pilot_runs(),
    output:
        STUDIES,
    params:
        settings=studies_settings(),
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/optuna_studies.log",
    benchmark:
        f"{BENCH}/optuna_studies.tsv"
    shell:
        "python -m gsos --log {log} studies --records {input.records} --pilots {input.pilots}"
        " --settings {params.settings:q} --out {output}"
