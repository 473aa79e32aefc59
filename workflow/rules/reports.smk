rule tables:
    input:
        run_records(),
    output:
        **table_outputs(*TABLES),
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        "logs/tables.log",
    shell:
        "python -m gsos --log {log} tables --records {input} --outdir reports"


rule table5:
    output:
        **table_outputs("table5"),
        plot=report("reports/table5.png", caption="../report/table5_plot.rst", category="Figures"),
        plot_pdf="reports/table5.pdf",
    params:
        settings=as_json(config["table5"]),
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        "logs/table5.log",
    shell:
        "python -m gsos --log {log} table5 --settings {params.settings:q} --out reports/table5.csv"


rule importance:
    input:
        records=simultaneous_records(),
        groups="results/groups.json",
    output:
        **table_outputs("importance"),
    params:
        settings=as_json({"search_space": config["search_space"]}),
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        "logs/importance.log",
    shell:
        "python -m gsos --log {log} importance --records {input.records} --settings {params.settings:q}"
        " --groups {input.groups} --out reports/importance.csv"


rule figure1:
    input:
        groups="results/groups.json",
        importance="reports/importance.csv",
    output:
        png=report("reports/figure1.png", caption="../report/figure1.rst", category="Figures"),
        pdf="reports/figure1.pdf",
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        "logs/figure1.log",
    shell:
        "python -m gsos --log {log} figure1 --groups {input.groups} --importance {input.importance}"
        " --out {output.png}"


rule figure2:
    input:
        run_records(),
    output:
        png=report("reports/figure2.png", caption="../report/figure2.rst", category="Figures"),
        pdf="reports/figure2.pdf",
        convergence=report(
            "reports/convergence.png", caption="../report/convergence.rst", category="Figures"
        ),
        convergence_pdf="reports/convergence.pdf",
    threads: 1
    conda:
        "../../envs/reports.yaml"
    log:
        "logs/figure2.log",
    shell:
        "python -m gsos --log {log} figure2 --records {input} --out {output.png}"
        " --convergence {output.convergence}"
