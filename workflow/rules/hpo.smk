rule hpo:
    input:
        data="results/data/{dataset}/data.pt",
        manifest="results/data/{dataset}/manifest.json",
        groups="results/groups.json",
    output:
        records="results/runs/{dataset}/{strategy}/seed{seed}/records.jsonl",
        summary="results/runs/{dataset}/{strategy}/seed{seed}/summary.json",
    params:
        settings=hpo_settings(),
    threads: config["resources"]["hpo_threads"]
    resources:
        **hpo_resources(),
    conda:
        "../../envs/hpo.yaml"
    log:
        "logs/hpo/{dataset}/{strategy}/seed{seed}.log",
    shell:
        "python -m gsos --log {log} hpo --dataset {wildcards.dataset} --strategy {wildcards.strategy}"
        " --seed {wildcards.seed} --settings {params.settings:q} --groups {input.groups}"
        " --data {input.data} --manifest {input.manifest} --records {output.records}"
        " --summary {output.summary} --threads {threads}"
        " --jobs-per-gpu {resources.jobs_per_gpu}"
