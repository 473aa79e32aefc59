localrules:
    download,


# Downloads run on the submitting host: cluster compute nodes often have no internet.
# They are shared by every experiment (resources/<dataset>/), checked by their checksums.
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
    benchmark:
        "benchmarks/download/{dataset}.tsv"
    shell:
        "python -m gsos --log {log} download --name {wildcards.dataset}"
        " --settings {params.settings:q} --out {output}"


rule prepare_data:
    input:
        unpack(download_record),
    output:
        data=f"{RESULTS}/data/{{dataset}}/data.pt",
        manifest=f"{RESULTS}/data/{{dataset}}/manifest.json",
    params:
        settings=dataset_settings,
        content=folder_content,
        download=lambda wc, input: f"--download {input.download}" if "download" in input.keys() else "",
    threads: 1
    conda:
        "../../envs/data.yaml"
    log:
        f"{LOGS}/prepare_data/{{dataset}}.log",
    benchmark:
        f"{BENCH}/prepare_data/{{dataset}}.tsv"
    shell:
        "python -m gsos --log {log} prepare --name {wildcards.dataset}"
        " --settings {params.settings:q} --data {output.data} --manifest {output.manifest}"
        " {params.download}"


rule groups:
    output:
        f"{RESULTS}/groups.json",
    params:
        settings=groups_settings(),
    threads: 1
    conda:
        "../../envs/data.yaml"
    log:
        f"{LOGS}/groups.log",
    benchmark:
        f"{BENCH}/groups.tsv"
    shell:
        "python -m gsos --log {log} groups --settings {params.settings:q} --out {output}"
