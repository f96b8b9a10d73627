"""``workbench alerts …``: run a rule set over a term, list alerts, check a rule-set file."""
from __future__ import annotations

import datetime as dt

import click

from workbench.cliopts import LANG_OPT, STORE_OPT
from workbench.indicators.cli import engine_options
from workbench.model.spec import SpecError
from workbench.store import StoreVersionError, default_store_path, open_store


@click.group()
def alerts() -> None:
    """Early-warning rules and alerts (预警规则与预警)."""


@alerts.command("run")
@click.option("--term", required=True, help="Term id, e.g. 2026-2027-1.")
@click.option("--rules", "rules_ref", default="default", show_default=True, help="Rule-set file or shipped name.")
@click.option("--as-of", "as_of", default=None, help="Use only data up to this day (YYYY-MM-DD), as if run that day.")
@STORE_OPT
@engine_options
@LANG_OPT
def alerts_run(term, rules_ref, as_of, store_path, lang, engine) -> None:
    """Evaluate the rule set and store the new alerts (nothing is raised twice inside a rule's cool-down)."""
    from workbench.alerts import load_rule_set, run_alerts
    from workbench.alerts.journal import import_journal
    try:
        rs = load_rule_set(rules_ref)
        day = dt.date.fromisoformat(as_of) if as_of else None
        with open_store(default_store_path(store_path)) as store:
            imported = import_journal(store.con, _journal(store_path))
            eng = engine.open(store.con) if engine.name != "duckdb" else None
            try:
                run = run_alerts(store.con, term, rs, as_of=day, engine=eng)
            finally:
                if eng is not None:
                    eng.stop()
    except (SpecError, StoreVersionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if imported:
        click.echo(f"imported {imported} inbox actions from the apps" if lang == "en" else f"已导入应用中的 {imported} 条处理记录")
    click.echo(run.summary(lang))
    for rid, n in run.hits.items():
        k = int((run.alerts["rule_id"] == rid).sum()) if len(run.alerts) else 0
        click.echo(f"  {rid:26} {k:5d}" + (f"  ({run.cooled.get(rid, 0)} 冷却期内未重复)" if lang == "zh"
                                            else f"  ({run.cooled.get(rid, 0)} held back)"))


def _journal(store_path: str | None):
    """The apps' journal: $WORKBENCH_ALERT_JOURNAL, else alert_actions.jsonl beside the store."""
    import os
    from pathlib import Path

    from workbench.alerts.journal import ActionJournal
    env = os.environ.get("WORKBENCH_ALERT_JOURNAL")
    return ActionJournal(Path(env) if env else default_store_path(store_path).parent / "alert_actions.jsonl")


@alerts.command("import")
@STORE_OPT
def alerts_import(store_path) -> None:
    """Move the inbox actions recorded in the apps (acknowledge, interventions, outcomes, feedback) into the store."""
    from workbench.alerts.journal import import_journal
    try:
        with open_store(default_store_path(store_path)) as store:
            n = import_journal(store.con, _journal(store_path))
    except (StoreVersionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"imported {n} inbox actions / 已导入 {n} 条处理记录")


@alerts.command("check")
@click.argument("files", nargs=-1, required=True)
def alerts_check(files) -> None:
    """Check rule-set files; every problem names the file and the rule."""
    from workbench.alerts import load_rule_set
    bad = 0
    for f in files:
        try:
            rs = load_rule_set(f)
            click.echo(f"{f}: ok ({len(rs.rules)} rules, version {rs.version})")
        except SpecError as exc:
            bad += 1
            click.echo(str(exc), err=True)
    if bad:
        raise SystemExit(1)


@alerts.command("list")
@click.option("--term", required=True)
@click.option("--role", default="head_teacher", show_default=True, help="Show what this role is routed.")
@click.option("--limit", default=30, show_default=True)
@STORE_OPT
@LANG_OPT
def alerts_list(term, role, limit, store_path, lang) -> None:
    """Recent alerts routed to a role (student codes only; emotion details withheld)."""
    from workbench.alerts.inbox import alert_rows
    with open_store(default_store_path(store_path), read_only=True) as store:
        rows = alert_rows(store.con, term, role, lang=lang)
    for r in rows.head(limit).itertuples():
        click.echo(f"{r.fired_on}  {r.code}  {r.class_id or '':6} {r.level_label:4}  {r.text}")
    click.echo(f"{len(rows)} alerts routed to {role}" if lang == "en" else f"共 {len(rows)} 条推送给 {role}")


@alerts.command("report")
@click.option("--term", required=True)
@STORE_OPT
@LANG_OPT
def alerts_report(term, store_path, lang) -> None:
    """Per rule: alerts by level, how many were acknowledged and acted on, the outcomes recorded and how many
    teachers marked useful (rules whose alerts nobody finds useful are candidates for new thresholds)."""
    from workbench.alerts.effect import feedback_summary
    with open_store(default_store_path(store_path), read_only=True) as store:
        df = store.con.execute("""
            SELECT a.rule_id, a.level, a.status, a.feedback,
                   (SELECT count(*) FROM interventions i WHERE i.alert_id = a.alert_id) AS n_int,
                   (SELECT count(*) FROM interventions i WHERE i.alert_id = a.alert_id
                      AND i.outcome IN ('improved', 'resolved')) AS n_better
            FROM alerts a WHERE a.term_id = $t""", {"t": term}).df()
    if df.empty:
        click.echo(f"no alerts in {term}" if lang == "en" else f"{term} 没有预警")
        return
    fb = feedback_summary(df).set_index("rule_id")
    head = ("rule", "alerts", "severe", "acknowledged", "acted on", "improved", "marked", "useful") if lang == "en" else \
        ("规则", "预警", "严重", "已确认", "已干预", "好转", "已反馈", "有用")
    click.echo("  ".join(f"{h:>8}" if i else f"{h:26}" for i, h in enumerate(head)))
    for rule, g in df.groupby("rule_id", sort=True):
        share = fb.at[rule, "useful_share"]
        cells = [len(g), int((g["level"] == "severe").sum()), int((g["status"] != "open").sum()),
                 int((g["n_int"] > 0).sum()), int((g["n_better"] > 0).sum()), int(fb.at[rule, "marked"]),
                 "—" if share != share else f"{share:.0%}"]
        click.echo(f"{rule:26}" + "  ".join(f"{c:>8}" for c in cells))
