def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slurm: runs workflows through profiles/slurm on a single-node Slurm cluster that "
        "tests/slurm/start-slurm.sh starts (root, Debian; deselect with -m 'not slurm')",
    )
