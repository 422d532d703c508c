"""``./opscore archive FILE``: a run, whole. One .tar.gz of the checkout's code (and its git
version), the lock, every config the run used (from its record, ``results/run/run.yaml``), its
inputs (datasets given by ``path:``, staged downloads, the pretrained bases; ``--no-data``
records their SHA-256 and source instead), every artifact under ``results/`` with its integrity
record, and ``RUN.md`` naming the command that continues the run. Unpacked anywhere, ``./opscore
verify`` passes and a dry run plans nothing: timestamps are kept, and Snakemake's metadata
(``.snakemake/``) is left out, so the moved inputs' new paths trigger nothing. Anything that
cannot be packed is an error, not a warning.
"""
from __future__ import annotations

import argparse
import copy
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

from opscore import integrity
from opscore.data.archives import DATASET_ARCHIVES
from opscore.job import atomic_path, git_version
from opscore.models.applications import APPLICATIONS

CHECKOUT = Path(__file__).resolve().parents[2]
RECORD = Path("results/run/run.yaml")
INPUTS = Path("run/inputs")


class ArchiveError(Exception):
    """What cannot be packed, and what to do."""


def _inside(path: Path, root: Path) -> Path | None:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return None


def run_inputs(config: dict, workdir: Path) -> list[tuple[Path, str, str]]:
    """(file on disk, its name in the archive, the config key it comes from) of every input the run
    read from outside results/: dataset paths, the staged downloads of built-in datasets, a base
    weights file or the downloaded ImageNet bases. Inputs inside the working directory keep their place; others go under run/inputs/."""
    wanted = []
    for name, options in config["datasets"].items():
        if "path" in options:
            wanted.append((Path(options["path"]).expanduser(), f"datasets.{name}.path", name))
        for archive in DATASET_ARCHIVES.get(name, []) if "path" not in options else []:
            wanted.append((Path(config.get("download_dir", "resources/downloads")) / archive.filename,
                           f"datasets.{name} (download)", "downloads"))
    weights = config.get("weights", "imagenet")
    if weights not in ("imagenet", "none"):
        wanted.append((Path(weights).expanduser(), "weights", "weights"))
    if weights == "imagenet":  # the downloaded pretrained bases the training read
        bases = Path(config.get("weights_dir", "resources/weights"))
        wanted += [(bases / f"{model}-imagenet-notop.h5", f"models.{model} (ImageNet base)", "bases")
                   for model in config["models"] if model in APPLICATIONS]
    found = []
    for path, key, place in wanted:
        on_disk = path if path.is_absolute() else workdir / path
        if not on_disk.exists():
            raise ArchiveError(f"config {key}: {path} does not exist, so it cannot be packed; restore it, or "
                               "archive with --no-data to record its SHA-256 and source instead")
        inside = _inside(on_disk, workdir)
        found.append((on_disk, str(inside) if inside else str(INPUTS / place / on_disk.name), key))
    return found


def _relocated(config: dict, inputs: list[tuple[Path, str, str]]) -> dict:
    """The config with every input packed under run/inputs/ at its new (relative) place."""
    config = copy.deepcopy(config)
    for _, name, key in inputs:
        if not name.startswith(str(INPUTS)):
            continue
        if key == "weights":
            config["weights"] = name
        elif key.endswith(".path"):
            config["datasets"][key.split(".")[1]]["path"] = name
        elif key.endswith("(ImageNet base)"):
            config["weights_dir"] = str(Path(name).parent)
        else:
            config["download_dir"] = str(Path(name).parent)
    return config


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()) if root.exists() else []


def _code_files(checkout: Path) -> list[str]:
    # tracked files and new ones git does not ignore: the code as it runs (its version says -dirty)
    listed = subprocess.run(["git", "-C", str(checkout), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=False)
    if listed.returncode != 0:
        raise ArchiveError(f"{checkout} is not a git checkout: cannot tell its code from other files")
    return [name for name in listed.stdout.decode().split("\0") if name and (checkout / name).is_file()]


def _readme(version: str, no_data: list[dict], continued: str) -> str:
    lines = [
        "# An opscore run, archived by `./opscore archive`", "",
        f"Code version: `{version}` (the code of this archive; `-dirty`: with uncommitted changes).", "",
        "Continue the run (plans only what is missing; with `-n` it plans nothing):", "",
        f"    {continued}", "",
        "- `./opscore verify` checks every artifact under `results/` against its SHA-256 record.",
        "- `results/report.html` (if the run made it) opens offline; `results/scores/` holds the rankings.",
        "- `run/config.yaml`: the run's config, its inputs' paths pointing into `run/inputs/`;",
        "  `run/configs/`: the config files it was given, as they were; `results/run/run.yaml`: the record.",
        "- Snakemake's own metadata (`.snakemake/`) is not packed: files are judged by their timestamps,",
        "  which the archive keeps.",
    ]
    if no_data:
        lines += ["", "Inputs not packed (`--no-data`): put each file at its path (SHA-256 to check) before "
                      "continuing:", ""]
        lines += [f"- `{entry['path']}` ({entry['bytes']} bytes, SHA-256 `{entry['sha256']}`), from config "
                  f"`{entry['key']}`" for entry in no_data]
    return "\n".join(lines) + "\n"


def build(out: Path, workdir: Path = Path("."), checkout: Path = CHECKOUT, no_data: bool = False) -> list[str]:
    """Write the archive of the run in ``workdir`` (results/, its inputs) with ``checkout``'s code
    to ``out`` (atomically); returns its member names."""
    workdir, checkout = Path(workdir), Path(checkout)
    record_file = workdir / RECORD
    if not record_file.is_file():
        raise ArchiveError(f"{record_file} does not exist: no run is recorded here; run the workflow to its end "
                           "(./opscore run, or snakemake without targets) first")
    record = yaml.safe_load(record_file.read_text())
    damaged, missing, _ = integrity.verify(workdir)
    if damaged or missing:
        names = [str(path) for path, _ in damaged] + [str(path) for path in missing]
        raise ArchiveError(f"damaged or missing artifacts, fix before archiving: {', '.join(names)} "
                           f"(./opscore verify; {integrity.REMEDY})")
    inputs = run_inputs(record["config"], workdir)
    members: dict[str, Path] = {name: checkout / name for name in _code_files(checkout)}
    members.update({str(p.relative_to(workdir)): p for p in _files(workdir / "results")})
    skipped = []
    for path, name, key in inputs:
        if no_data:
            skipped.append({"path": str(path), "key": key, "bytes": path.stat().st_size,
                            "sha256": integrity.digest(path) if path.is_file() else "(a folder)"})
            continue
        for file in ([path] if path.is_file() else _files(path)):
            members[str(Path(name) / file.relative_to(path)) if path.is_dir() else name] = file
        if integrity.record_path(path).is_file():
            members[str(Path(name).parent / integrity.record_path(path).name)] = integrity.record_path(path)
    config = record["config"] if no_data else _relocated(record["config"], inputs)
    version = git_version(checkout)
    continued = "./opscore run --configfile run/config.yaml"
    texts = {"run/config.yaml": yaml.safe_dump(config, sort_keys=False), "run/code-version": version + "\n",
             "RUN.md": _readme(version, skipped, continued)}
    for index, entry in enumerate(record["configfiles"]):
        texts[f"run/configs/{index + 1}-{Path(entry['path']).name}"] = f"# from {entry['path']}\n{entry['text']}"
    with atomic_path(out, suffix=".tar.gz", record=False) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for name, path in sorted(members.items()):
            tar.add(path, arcname=name, recursive=False)
        for name, text in texts.items():
            info, data = tarfile.TarInfo(name), text.encode()
            info.size, info.mtime, info.mode = len(data), record_file.stat().st_mtime, 0o644
            tar.addfile(info, io.BytesIO(data))
    return sorted([*members, *texts])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./opscore archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the archive to write (.tar.gz)")
    parser.add_argument("--no-data", action="store_true",
                        help="record the inputs' SHA-256 and source instead of packing them (data too big to ship)")
    parser.add_argument("--directory", type=Path, default=Path("."),
                        help="the run's working directory (default: the checkout)")
    args = parser.parse_args(argv)
    try:
        members = build(args.file, args.directory, no_data=args.no_data)
    except ArchiveError as error:
        print(f"opscore archive: {error}", file=sys.stderr)
        return 1
    print(f"{args.file}: {len(members)} files; continue it with: ./opscore run --configfile run/config.yaml "
          "(see RUN.md inside)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
