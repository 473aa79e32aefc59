rule hpo:
    input:
        unpack(hpo_inputs),
    output:
        records=f"{RESULTS}/runs/{{dataset}}/{{strategy}}/seed{{seed}}/records.jsonl",
        summary=f"{RESULTS}/runs/{{dataset}}/{{strategy}}/seed{{seed}}/summary.json",
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
        "python -m gsos --log {log} hpo --dataset {wildcards.dataset}"
        " --strategy {wildcards.strategy} --seed {wildcards.seed}"
        " --settings {params.settings:q} {params.options}"
        " --data {input.data} --manifest {input.manifest} --records {output.records}"
        " --summary {output.summary} --threads {threads}"
        " --jobs-per-gpu {resources.jobs_per_gpu}"
        " --progress --progress-seconds {resources.progress_seconds}"
