localrules:
    download,


# Downloads run on the submitting host: cluster compute nodes often have no internet.
rule download:
    output:
        "resources/{dataset}/download.json",
    params:
        settings=dataset_settings,
    threads: 1
    conda:
        "../../envs/data.yaml"
    log:
        "logs/download/{dataset}.log",
    shell:
        "python -m gsos --log {log} download --name {wildcards.dataset} --settings {params.settings:q}"
        " --out {output}"


rule prepare_data:
    input:
        unpack(download_record),
    output:
        data="results/data/{dataset}/data.pt",
        manifest="results/data/{dataset}/manifest.json",
    params:
        settings=dataset_settings,
        content=folder_content,
        download=lambda wc, input: f"--download {input.download}" if "download" in input.keys() else "",
    threads: 1
    conda:
        "../../envs/data.yaml"
    log:
        "logs/prepare_data/{dataset}.log",
    shell:
        "python -m gsos --log {log} prepare --name {wildcards.dataset} --settings {params.settings:q}"
        " --data {output.data} --manifest {output.manifest} {params.download}"


rule groups:
    output:
        "results/groups.json",
    params:
        settings=hpo_settings(),
    threads: 1
    conda:
        "../../envs/data.yaml"
    log:
        "logs/groups.log",
    shell:
        "python -m gsos --log {log} groups --settings {params.settings:q} --out {output}"
