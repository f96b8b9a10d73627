"""Ingestion: source presets (YAML) → readers → validation → quarantine → the store.

>>> from workbench.ingest import list_presets
>>> any(p.name == "oulad_student_info" for p in list_presets())
True
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from workbench.identity import PseudonymKeyError
from workbench.ingest.pipeline import FileReport, Progress, ingest_file
from workbench.ingest.presets import Preset, PresetError, list_presets, load_preset, presets_for_file
from workbench.ingest.readers import FileProblem
from workbench.ingest.report import accounting_table
from workbench.store import Store

__all__ = ["FileReport", "FileProblem", "Preset", "PresetError", "accounting_table", "ingest_file", "ingest_paths",
           "list_presets", "load_preset", "presets_for_file"]


def ingest_paths(store: Store, paths: Iterable[str | Path], key: bytes, preset: str | Preset | None = None, *,
                 rejects_dir: str | Path | None = None, progress: Progress | None = None) -> list[FileReport]:
    """Ingest several files; with no ``preset`` each file's presets are found from its name.

    Files are taken in the presets' ``order`` (rosters before the records that refer to them).
    A file whose preset cannot be found is reported as failed, the others go on.
    """
    jobs: list[tuple[Path, Preset | None, str]] = []
    for p in map(Path, paths):
        try:
            found = [preset] if isinstance(preset, Preset) else [load_preset(preset)] if preset else presets_for_file(p)
        except PresetError as exc:
            jobs.append((p, None, f"{p}: {exc}"))
            continue
        if not found:
            jobs.append((p, None, f"{p}: no preset matches this file name; name one with --preset "
                                  f"/ 没有与该文件名匹配的导入预设，请用 --preset 指定"))
        jobs += [(p, pr, "") for pr in found]
    jobs.sort(key=lambda j: (j[1].order if j[1] else 0, str(j[0])))
    reports = []
    for path, pr, err in jobs:
        if pr is None:
            reports.append(FileReport(file=path.name, preset=str(preset or "?"), table=None, status="failed", message=err))
            continue
        try:
            reports.append(ingest_file(store, path, pr, key, rejects_dir=rejects_dir, progress=progress))
        except PseudonymKeyError:
            raise  # the wrong key is wrong for every file: stop here
        except Exception as exc:  # one file's unexpected failure is reported; the batch goes on
            reports.append(FileReport(file=path.name, preset=pr.name, table=pr.table, status="failed",
                                      message=f"{path}: {type(exc).__name__}: {str(exc).splitlines()[0]}"))
    return reports
