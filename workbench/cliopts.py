"""Click options shared by the ``workbench`` command groups."""
from __future__ import annotations

import click

STORE_OPT = click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
                         help="DuckDB store file (default $WORKBENCH_STORE or data/workbench.duckdb).")
LANG_OPT = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
