rule prepare_data:
    output:
        data="results/data/{dataset}/data.pt",
        manifest="results/data/{dataset}/manifest.json",
    params:
        settings=dataset_settings,
    conda:
        "../../envs/data.yaml"
    log:
        "logs/prepare_data/{dataset}.log",
    shell:
        "python -m gsos prepare --name {wildcards.dataset} --settings {params.settings:q}"
        " --data {output.data} --manifest {output.manifest} 2> {log}"


rule groups:
    output:
        "results/groups.json",
    params:
        settings=hpo_settings(),
    conda:
        "../../envs/data.yaml"
    log:
        "logs/groups.log",
    shell:
        "python -m gsos groups --settings {params.settings:q} --out {output} 2> {log}"
