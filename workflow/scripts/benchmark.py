"""Time every variant of one dataset together: isolated processes, alternating rounds, MLPerf LoadGen."""
from opscore.job import start_job

start_job(snakemake)

from opscore.benchmark.rounds import benchmark, candidates_from_manifests, protocol_of  # noqa: E402

params = snakemake.params
candidates = candidates_from_manifests(snakemake.input.candidates)
protocol = protocol_of(params.measure, params.batch_size, snakemake.threads)
summary, rounds, queries = benchmark(candidates, protocol, snakemake.output.loadgen)
summary.to_parquet(snakemake.output.summary)
rounds.to_parquet(snakemake.output.rounds)
queries.to_parquet(snakemake.output.queries)
print(summary.to_string())
