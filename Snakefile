# GSOS: grouped sequential vs simultaneous TPE, and every other strategy of the source
# documents, for CNN hyperparameters, end to end. The defaults (config/config.yaml, always
# loaded first) run on the embedded digits on a CPU; the paper's protocol is
# --configfile config/paper.yaml. workflow/rules/common.smk says how configs are layered.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/hpo.smk"
include: "workflow/rules/reports.smk"


onstart:
    check_device_here()
    check_until_here()
    record_this_run()


rule all:
    input:
        final_outputs(),
    default_target: True


# Every HPO run of the experiment (pilots through the measured groups they feed), no report:
# `snakemake --cores all runs`. (--until hpo cannot do it: see common.smk.)
rule runs:
    input:
        run_records(),
