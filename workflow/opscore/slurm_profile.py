"""Install the global Slurm profile, so that `snakemake --profile slurm` works as users type it.

Snakemake looks a profile *name* up in its user configuration directory
(``~/.config/snakemake/``, or ``$XDG_CONFIG_HOME/snakemake/``) and the site one. The Slurm
executor plugin's convention is a global profile per cluster there (executor, account, partitions,
job limits), with each workflow's per-rule resources in its own ``profiles/default/``. This
writes the starter ``slurm/config.yaml`` and ``slurm/partitions.yaml`` from the repository's
``profiles/slurm/`` (the ``CHANGE_ME`` lines are for the user to fill in) and never replaces an
existing profile unless told to.

    python -m opscore.slurm_profile [--force]     (./opscore profile slurm [--force])
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "profiles" / "slurm"
PARTITIONS_KEY = "slurm-partition-config: profiles/slurm/partitions.yaml"


def user_profile_dir(name: str = "slurm") -> Path:
    """Where `snakemake --profile NAME` looks first: Snakemake's own user config directory."""
    from snakemake.common import get_appdirs

    return Path(get_appdirs().user_config_dir) / name


def write_profile(target: Path | None = None, force: bool = False) -> Path:
    """Write config.yaml and partitions.yaml into ``target`` (default: the user profile
    ``slurm``), the partition file named by its absolute path. Raises FileExistsError, naming
    ``--force``, if a config.yaml is there already."""
    target = Path(target) if target is not None else user_profile_dir()
    config = target / "config.yaml"
    if config.exists() and not force:
        raise FileExistsError(f"{config} exists; keep your edits, or replace it with --force")
    template = (TEMPLATE / "config.yaml").read_text()
    if PARTITIONS_KEY not in template:
        raise RuntimeError(f"{TEMPLATE / 'config.yaml'} lost its line {PARTITIONS_KEY!r}")
    target.mkdir(parents=True, exist_ok=True)
    (target / "partitions.yaml").write_text((TEMPLATE / "partitions.yaml").read_text())
    config.write_text(template.replace(PARTITIONS_KEY, f"slurm-partition-config: {target / 'partitions.yaml'}"))
    return config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="./opscore profile slurm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="replace an existing profile")
    args = parser.parse_args(argv)
    try:
        config = write_profile(force=args.force)
    except FileExistsError as error:
        print(f"opscore: {error}", file=sys.stderr)
        return 1
    print(f"opscore: wrote {config} and {config.parent / 'partitions.yaml'}.\n"
          "Change the CHANGE_ME lines in both (your account and partitions), then run\n"
          "  ./opscore exec snakemake --profile slurm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
