rule tables:
    input:
        run_records(),
    output:
        **{
            f"{t}_{ext}": f"reports/{t}.{ext}"
            for t in ["runs", "table4_published_check", "headline_published_check"]
            for ext in ["csv", "md"]
        },
        table3=report("reports/table3.csv", caption="../report/table3.rst", category="Tables"),
        table3_md="reports/table3.md",
        table4=report("reports/table4.csv", caption="../report/table4.rst", category="Tables"),
        table4_md="reports/table4.md",
        headline=report("reports/headline.csv", caption="../report/headline.rst", category="Tables"),
        headline_md="reports/headline.md",
    conda:
        "../../envs/reports.yaml"
    log:
        "logs/tables.log",
    shell:
        "python -m gsos tables --records {input} --outdir reports 2> {log}"


rule table5:
    output:
        csv=report("reports/table5.csv", caption="../report/table5.rst", category="Tables"),
        md="reports/table5.md",
    params:
        settings=as_json(config["table5"]),
    conda:
        "../../envs/reports.yaml"
    log:
        "logs/table5.log",
    shell:
        "python -m gsos table5 --settings {params.settings:q} --out {output.csv} 2> {log}"


rule figure1:
    input:
        "results/groups.json",
    output:
        png=report("reports/figure1.png", caption="../report/figure1.rst", category="Figures"),
        pdf="reports/figure1.pdf",
    conda:
        "../../envs/reports.yaml"
    log:
        "logs/figure1.log",
    shell:
        "python -m gsos figure1 --groups {input} --out {output.png} 2> {log}"


rule figure2:
    input:
        run_records(),
    output:
        png=report("reports/figure2.png", caption="../report/figure2.rst", category="Figures"),
        pdf="reports/figure2.pdf",
    conda:
        "../../envs/reports.yaml"
    log:
        "logs/figure2.log",
    shell:
        "python -m gsos figure2 --records {input} --out {output.png} 2> {log}"
