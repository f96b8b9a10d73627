"""``workbench recommend …``: check a resource catalogue, form learning partners, class subject-choice advice."""
from __future__ import annotations

import sys

import click

from workbench.cliopts import LANG_OPT, STORE_OPT
from workbench.store import StoreVersionError, default_store_path, open_store

GRAPH_OPT = click.option("--graph", "graph_ref", default="math_junior", show_default=True,
                         help="Knowledge graph (shipped name or YAML file).")


@click.group()
def recommend() -> None:
    """Recommendations: resources by gap and level, learning partners, subject choice (推荐)."""


@recommend.command("catalogue")
@GRAPH_OPT
@click.option("--catalogue", "catalogue_ref", default=None, help="Catalogue CSV/XLSX (default: the graph's shipped one).")
@LANG_OPT
def catalogue_cmd(graph_ref, catalogue_ref, lang) -> None:
    """Check a resource catalogue against the graph: rejected rows (file, row, column, reason) and the
    knowledge points or levels without any resource. Exit status 1 when a row is rejected."""
    from workbench.knowledge import GraphError, load_graph
    from workbench.recommend.resources import LEVELS, CatalogueError, load_catalogue
    try:
        kg = load_graph(graph_ref)
        cat = load_catalogue(catalogue_ref or graph_ref, kg)
    except (GraphError, CatalogueError) as exc:
        raise click.ClickException(str(exc)) from None
    cov = cat.coverage(kg, lang)
    zh = lang == "zh"
    click.echo((f"{cat.source}：读取 {cat.rows_read} 行，接收 {len(cat.resources)} 行，拒收 {cat.rejected_rows} 行"
                if zh else f"{cat.source}: {cat.rows_read} rows read, {len(cat.resources)} accepted, "
                f"{cat.rejected_rows} rejected"))
    for issue in cat.rejected:
        click.echo("  " + issue.text(cat.source), err=True)
    per_level = ", ".join(f"{LEVELS[lv][lang]} {int((cov[lv] > 0).sum())}/{len(cov)}" for lv in LEVELS)
    click.echo(("有资源的知识点（按层级）：" if zh else "points with a resource, by level: ") + per_level)
    none = cov[cov["total"] == 0]
    if len(none):
        click.echo(("没有任何资源的知识点：" if zh else "points without any resource: ")
                   + ", ".join(f"{k} {n}" for k, n in zip(none["kp"], none["name"])))
    if cat.rejected:
        sys.exit(1)


@recommend.command("partners")
@click.option("--term", required=True, help="Term id, e.g. 2026-2027-1.")
@click.option("--class", "class_ids", multiple=True, help="Class id (repeat; default every class of the term).")
@click.option("--size", default=2, show_default=True, help="Group size (2 = pairs).")
@click.option("--save/--no-save", default=False, show_default=True,
              help="Store the groups, so next term's groups avoid these pairs.")
@GRAPH_OPT
@STORE_OPT
@LANG_OPT
def partners_cmd(term, class_ids, size, save, graph_ref, store_path, lang) -> None:
    """Learning partners per class: complementary strengths, last term's pairs avoided; prints the
    complementarity per pair against random grouping. Students appear by display code only."""
    from workbench.knowledge import load_graph
    from workbench.recommend.partners import match_partners, previous_pairs, save_plan
    from workbench.recommend.service import class_skill_frame
    from workbench.reports.common import display_code
    kg = load_graph(graph_ref)
    try:
        with open_store(default_store_path(store_path)) as store:
            con = store.con
            rows = con.execute("SELECT class_id, list(DISTINCT student_key ORDER BY student_key) FROM enrolments "
                               "WHERE term_id = $t GROUP BY 1 ORDER BY 1", {"t": term}).fetchall()
            wanted = set(class_ids) or {c for c, _ in rows}
            unknown = wanted - {c for c, _ in rows}
            if unknown:
                raise click.ClickException(f"no students in {', '.join(sorted(unknown))} for term {term} / "
                                           "该学期这些班级没有学生")
            zh = lang == "zh"
            click.echo("班级     人数  组数  每对互补度  随机分组  倍数" if zh else
                       "class  students groups  per pair  random  ratio")
            for c, keys in rows:
                if c not in wanted:
                    continue
                plan = match_partners(class_skill_frame(con, term, keys, kg), size=size,
                                      avoid=previous_pairs(con, term, keys), lang=lang)
                if not plan.groups:
                    click.echo(f"{c:8} {len(keys):4}  {plan.message}")
                    continue
                click.echo(f"{c:8} {len(keys):4}  {len(plan.groups):4}  {plan.pair_mean:9.2f}  {plan.random_mean:8.2f}"
                           f"  {plan.ratio:4.2f}")
                if len(wanted) == 1:
                    for gi, g in enumerate(plan.groups, 1):
                        click.echo(f"  {gi:2}. {' + '.join(display_code(k) for k in g)}  ({plan.scores[gi - 1]:.0f})")
                if save:
                    save_plan(con, term, c, plan)
    except (StoreVersionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if save:
        click.echo("已保存学伴分组" if lang == "zh" else "partner groups saved")
