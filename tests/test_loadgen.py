"""MLPerf LoadGen's logs (opscore.benchmark.loadgen)."""


from opscore.benchmark import loadgen


def test_loadgen_detail_logs_are_read_record_by_record(tmp_path):
    log = tmp_path / "mlperf_log_detail.txt"
    log.write_text(':::MLLOG {"key": "result_validity", "value": "INVALID"}\nnoise\n'
                   ':::MLLOG {"key": "result_validity", "value": "VALID"}\n')
    assert loadgen.read_detail_log(log) == {"result_validity": "VALID"}
