"""The run's front page: per dataset the recommendation, the runner-up, the reasons and every flag."""
import json
from pathlib import Path

from opscore.decide.selection import headline, index_html
from opscore.job import start_job, write_atomic

start_job(snakemake)
selections = [json.loads(Path(path).read_text()) for path in snakemake.input]
write_atomic(snakemake.output[0], index_html(selections))
print("\n".join(headline(selection) for selection in selections))
