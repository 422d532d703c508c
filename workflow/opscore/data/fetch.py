"""The download rule's one line, ``python -m opscore.data.fetch PATH``: the official archive named
by PATH's file name fetched to PATH (md5-checked; a staged copy is used as it is, opscore.data.archives),
recorded for integrity checks, an error said in one line on stderr.

A shell rule, not a script: Snakemake re-runs a ``script:`` rule whose outputs are older than its
script, and it deletes a job's outputs before running it. An archive staged with its original date
(copied with ``cp -p``, moved from an earlier download, or staged before a ``git pull``) would
have been deleted and fetched again, and offline, lost."""
from __future__ import annotations

import sys
from pathlib import Path

from opscore import integrity
from opscore.data import DataError
from opscore.data.archives import fetch_archive, find_archive


def main(arguments: list[str]) -> int:
    (target,) = arguments
    try:
        archive = find_archive(Path(target).name)
        path = fetch_archive(archive, Path(target).parent)
    except DataError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    if not integrity.is_recorded_as_is(path):
        integrity.write_record(path)
    print(f"{path}: md5 {archive.md5} verified")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
