rule hpo:
    input:
        unpack(hpo_inputs),
    output:
        records=f"{RUN_DIR}/records.jsonl",
        summary=f"{RUN_DIR}/summary.json",
    params:
        settings=hpo_settings,
        options=hpo_options,
    threads: config["resources"]["hpo_threads"]
    resources:
        **hpo_resources(),
        progress_seconds=int(config["progress_seconds"]),  # a resource: changing it reruns nothing
    conda:
        "../../envs/hpo.yaml"
    log:
        f"{LOGS}/hpo/{{dataset}}/{{strategy}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/hpo/{{dataset}}/{{strategy}}/seed{{seed}}.tsv"
    shell:
        HPO_COMMAND


# Pilot runs (for gsos_measured): an HPO run like any other, with its own seeds and budget.
rule pilot:
    input:
        unpack(pilot_inputs),
    output:
        records=f"{PILOT_DIR}/records.jsonl",
        summary=f"{PILOT_DIR}/summary.json",
    params:
        settings=pilot_settings,
        options=pilot_options,
    threads: config["resources"]["hpo_threads"]
    resources:
        **hpo_resources(),
        progress_seconds=int(config["progress_seconds"]),
    conda:
        "../../envs/hpo.yaml"
    log:
        f"{LOGS}/pilot/{{dataset}}/{{strategy}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/pilot/{{dataset}}/{{strategy}}/seed{{seed}}.tsv"
    shell:
        HPO_COMMAND


# A dataset's groups from measured importance (see gsos/search/measured.py).
rule measured_groups:
    input:
        unpack(measure_inputs),
    output:
        f"{RESULTS}/measured_groups/{{dataset}}.json",
    params:
        settings=measure_settings(),
        options=measure_options,
    threads: 4  # the bootstrap refits, one process each (Snakemake caps this at --cores)
    conda:
        "../../envs/reports.yaml"
    log:
        f"{LOGS}/measured_groups/{{dataset}}.log",
    benchmark:
        f"{BENCH}/measured_groups/{{dataset}}.tsv"
    shell:
        "python -m gsos --log {log} measure --dataset {wildcards.dataset}"
        " --settings {params.settings:q} {params.options} --workers {threads} --out {output}"
