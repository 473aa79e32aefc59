# GSOS: grouped sequential vs simultaneous TPE for CNN hyperparameters, end to end.
# Default: the embedded digits on CPU. Paper protocol: --configfile config/paper.yaml
from snakemake.utils import min_version

min_version("9.0")


# A --configfile given on the command line replaces the default whole (no merge), so that
# config/paper.yaml does not inherit the digits dataset.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/hpo.smk"
include: "workflow/rules/reports.smk"


onstart:
    check_device_here()


rule all:
    input:
        final_outputs(),
    default_target: True
