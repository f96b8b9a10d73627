"""The ``workbench`` command: demo, ingest, presets, identity, key, schema."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from workbench.store import StoreVersionError, default_store_path, open_store

STORE_OPT = click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
                         help="DuckDB store file (default $WORKBENCH_STORE or data/workbench.duckdb).")
LANG_OPT = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)


def _progress_factory(enabled: bool):
    """A tqdm bar per file over the pipeline's phases (the pipeline calls it for large files only)."""
    if not enabled:
        return None
    from tqdm import tqdm
    state: dict[str, object] = {}

    def progress(step: str, done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None or done == 0:
            bar = state["bar"] = tqdm(total=total, desc="ingest", unit="step", file=sys.stderr, leave=False)
        bar.set_postfix_str(step)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            state.pop("bar", None)
    return progress


def _key(key_file: str | None) -> bytes:
    from workbench.identity import PseudonymKeyError, load_key
    try:
        return load_key(key_file)
    except PseudonymKeyError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(package_name="profile-workbench")
def main() -> None:
    """Profile Workbench 学生画像建模工作台."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--preset", default=None, help="Preset name or YAML file (default: found from each file name).")
@STORE_OPT
@click.option("--key-file", default=None, help="Pseudonym key file (default $WORKBENCH_KEY_FILE or ~/.config/...).")
@click.option("--rejects", "rejects_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for rejects reports (default: rejects/ beside the store).")
@click.option("--json", "as_json", is_flag=True, help="Print the accounting as JSON.")
@LANG_OPT
def ingest(paths, preset, store_path, key_file, rejects_dir, as_json, lang) -> None:
    """Ingest exports into the store; prints rows read / accepted / quarantined / merged per file."""
    from workbench.identity import PseudonymKeyError
    from workbench.ingest import accounting_table, ingest_paths
    key = _key(key_file)
    store_file = default_store_path(store_path)
    rejects = Path(rejects_dir) if rejects_dir else store_file.parent / "rejects"
    try:
        with open_store(store_file) as store:
            reports = ingest_paths(store, paths, key, preset, rejects_dir=rejects,
                                   progress=_progress_factory(sys.stderr.isatty() and not as_json))
    except (StoreVersionError, PseudonymKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        click.echo(accounting_table(reports, lang))
    if any(r.status == "failed" for r in reports):
        sys.exit(2)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@LANG_OPT
def presets(as_json, lang) -> None:
    """List the source presets (shipped and from $WORKBENCH_PRESETS)."""
    from workbench.ingest import list_presets
    items = list_presets()
    if as_json:
        click.echo(json.dumps([{"name": p.name, "source": p.source, "table": p.table, "title": p.title,
                                "match": p.match} for p in items], ensure_ascii=False, indent=2))
        return
    for p in items:
        click.echo(f"{p.name:34} {p.source:14} → {str(p.table or '(identity)'):12} {p.title.get(lang, p.name)}")


@main.group()
def key() -> None:
    """Manage the pseudonym key (kept outside the repository and the store)."""


@key.command("init")
@click.option("--path", default=None, help="Key file (default $WORKBENCH_KEY_FILE or ~/.config/profile-workbench/pseudonym.key).")
def key_init(path) -> None:
    from workbench.identity import init_key
    p = init_key(path)
    click.echo(f"pseudonym key: {p} (mode 0600; back it up — without it pseudonyms cannot be reproduced)")


@main.group()
def identity() -> None:
    """One-ID: review ambiguous matches and apply a person's decisions."""


@identity.command("review")
@STORE_OPT
@click.option("--out", default="identity_review.csv", show_default=True, type=click.Path(dir_okay=False))
def identity_review(store_path, out) -> None:
    """Write the pending matches to a CSV with a `decision` column to fill (1/2/3/new/reject)."""
    from workbench.identity import write_review_file
    with open_store(store_path) as store:
        n = write_review_file(store.con, out)
    click.echo(f"{n} pending match(es) written to {out} / 待确认 {n} 条")


@identity.command("resolve")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@STORE_OPT
@click.option("--key-file", default=None)
def identity_resolve(file, store_path, key_file) -> None:
    """Apply the decisions in FILE; rows waiting for those identities leave quarantine."""
    from workbench.ingest.release import resolve_and_release
    key = _key(key_file)
    with open_store(store_path) as store:
        try:
            out = resolve_and_release(store, file, key)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"linked {out['linked']}, new {out['created']}, rejected {out['rejected']}, "
               f"left pending {out['skipped']}; rows released from quarantine: {out['released']}")


@main.command()
@click.option("--students", default=480, show_default=True)
@click.option("--seed", default=20260901, show_default=True)
@click.option("--weeks", default=18, show_default=True)
@STORE_OPT
@click.option("--dir", "demo_dir", default="data/demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for exports/, ground_truth/, rejects/ and the demo's own pseudonym key.")
@click.option("--fresh", is_flag=True, help="Start from an empty store and new exports.")
@click.option("--no-ingest", is_flag=True, help="Only write the export files.")
@LANG_OPT
def demo(students, seed, weeks, store_path, demo_dir, fresh, no_ingest, lang) -> None:
    """Generate the demo school's exports (with ground truth) and ingest them."""
    from workbench.demo_run import run_demo
    result = run_demo(students=students, seed=seed, weeks=weeks, store_path=default_store_path(store_path),
                      demo_dir=Path(demo_dir), fresh=fresh, ingest=not no_ingest, lang=lang, echo=click.echo)
    sys.exit(result.exit_code)


@main.command()
def schema() -> None:
    """Print the store's schema reference (tables and columns with zh/en descriptions)."""
    from workbench.store.schema import schema_markdown
    click.echo(schema_markdown())


if __name__ == "__main__":  # pragma: no cover
    main()
