"""``workbench users …`` (the users file) and ``workbench serve`` (Voila behind login and role scopes)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from workbench.privacy.roles import ROLES
from workbench.privacy.users import Users, UsersFileError, default_users_path, new_password
from workbench.store import default_store_path

USERS_OPT = click.option("--users", "users_path", type=click.Path(dir_okay=False), default=None,
                         help="Users file (default $WORKBENCH_USERS or users.yaml beside the store).")
STORE_OPT = click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
                         help="DuckDB store file (default $WORKBENCH_STORE or data/workbench.duckdb).")
DEMO_SCHOOL = "DEMO01"


def _book(users_path: str | None, store_path: str | None, *, missing_ok: bool = False) -> Users:
    try:
        return Users.load(default_users_path(users_path, store_path), missing_ok=missing_ok)
    except UsersFileError as exc:
        raise click.ClickException(str(exc)) from None


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated): one line from stdin, or a new random one to print once."""
    if not from_stdin:
        return new_password(), True
    line = sys.stdin.readline().rstrip("\r\n")
    if len(line) < 8:
        raise click.ClickException("the password read from stdin must have at least 8 characters / 密码至少 8 位")
    return line, False


def _store_facts(store_path: str | None, classes: tuple[str, ...], student_no: str | None) -> str | None:
    """Check the classes exist and turn a school number into the student_key (inside the vault)."""
    import duckdb

    from workbench.identity import student_key_for
    path = default_store_path(store_path)
    if not path.exists():
        if classes or student_no:
            raise click.ClickException(f"no store at {path}: classes and school numbers are checked against it")
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        known = {r[0] for r in con.execute("SELECT class_id FROM classes").fetchall()}
        unknown = [c for c in classes if c not in known]
        if unknown:
            raise click.ClickException(f"unknown class(es) {', '.join(unknown)} in {path} / 未知班级")
        if student_no is None:
            return None
        key = student_key_for(con, student_no, "school_no")
    finally:
        con.close()
    if key is None:
        raise click.ClickException(f"no student with school number {student_no} in {path} / 没有该学号的学生")
    return key


def _scope_text(entry) -> str:
    from workbench.privacy.scope import display_code
    if entry.classes:
        return ",".join(entry.classes)
    if entry.student:
        return display_code(entry.student)
    return ",".join(entry.schools) or ("(all)" if ROLES[entry.role].scope == "district" else "(store's school)")


@click.group()
def users() -> None:
    """The users of `workbench serve`: logins, roles, scopes, hashed passwords / 用户与角色."""


@users.command("add")
@click.option("--login", required=True)
@click.option("--role", required=True, type=click.Choice(list(ROLES)))
@click.option("--class", "classes", multiple=True, help="A class of a teacher (repeatable), e.g. G7C1.")
@click.option("--student-no", default=None, help="A parent's child, by school number (looked up in the vault).")
@click.option("--student-key", default=None, help="A parent's child, by student_key (pseudonym).")
@click.option("--school", "schools", multiple=True, help="A school of an administrator (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin "
              "(otherwise one is generated and printed once).")
@USERS_OPT
@STORE_OPT
def users_add(login, role, classes, student_no, student_key, schools, password_stdin, users_path, store_path) -> None:
    """Add a user; the file stores only a PBKDF2 hash of the password and, for a parent, the child's pseudonym."""
    if student_no and student_key:
        raise click.ClickException("give --student-no or --student-key, not both")
    book = _book(users_path, store_path, missing_ok=True)
    key = _store_facts(store_path, classes, student_no) or student_key
    password, generated = _password(password_stdin)
    try:
        entry = book.add_user(login, role, password, classes=classes, student=key, schools=schools)
    except UsersFileError as exc:
        raise click.ClickException(str(exc)) from None
    book.save()
    click.echo(f"added {entry.login} ({ROLES[role].zh} {role}, {_scope_text(entry)}) to {book.path}")
    if generated:
        click.echo(f"password (shown once) / 初始密码（仅显示一次）: {password}")


@users.command("list")
@USERS_OPT
@STORE_OPT
@click.option("--json", "as_json", is_flag=True)
def users_list(users_path, store_path, as_json) -> None:
    """List the users (never their secrets)."""
    book = _book(users_path, store_path)
    rows = [{"login": e.login, "role": e.role, "scope": _scope_text(e), "demo": e.demo} for e in book.entries.values()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r['login']:22} {r['role']:20} {ROLES[r['role']].zh:8} {r['scope']}" + ("  [demo]" if r["demo"] else ""))


@users.command("set-password")
@click.option("--login", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin (otherwise one is generated).")
@USERS_OPT
@STORE_OPT
def users_set_password(login, password_stdin, users_path, store_path) -> None:
    """Change a password (the user's open sessions end)."""
    book = _book(users_path, store_path)
    password, generated = _password(password_stdin)
    try:
        book.set_password(login, password)
    except UsersFileError as exc:
        raise click.ClickException(str(exc)) from None
    book.save()
    click.echo(f"password of {login} changed" + (f"; new password (shown once): {password}" if generated else ""))


@users.command("remove")
@click.option("--login", required=True)
@USERS_OPT
@STORE_OPT
def users_remove(login, users_path, store_path) -> None:
    book = _book(users_path, store_path)
    try:
        book.remove(login)
    except UsersFileError as exc:
        raise click.ClickException(str(exc)) from None
    book.save()
    click.echo(f"removed {login}")


@users.command("demo")
@USERS_OPT
@STORE_OPT
def users_demo(users_path, store_path) -> None:
    """One account per role for the demo school, with new random passwords printed once (demo accounts are
    marked `demo: true`; running this again replaces them and keeps every other user)."""
    import duckdb
    path = default_store_path(store_path)
    if not path.exists():
        raise click.ClickException(f"no store at {path}: run `workbench demo` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute("SELECT v.source_id FROM enrolments e JOIN identity_vault_ids v USING (student_key) "
                          "WHERE e.class_id = 'G7C1' AND v.system = 'school_no' ORDER BY 1 LIMIT 1").fetchone()
    finally:
        con.close()
    if row is None:
        raise click.ClickException(f"{path} has no class G7C1 with school numbers: not the demo school?")
    child = _store_facts(store_path, ("G7C1", "G7C2"), row[0])
    accounts = [("demo_head_g7c1", "head_teacher", {"classes": ["G7C1"]}),
                ("demo_subject_g7", "subject_teacher", {"classes": ["G7C1", "G7C2"]}),
                ("demo_psychology", "psychology_teacher", {"schools": [DEMO_SCHOOL]}),
                ("demo_parent_g7c1", "parent", {"student": child}),
                ("demo_school_admin", "school_admin", {"schools": [DEMO_SCHOOL]}),
                ("demo_district_admin", "district_admin", {}),
                ("demo_researcher", "researcher", {})]
    book = _book(users_path, store_path, missing_ok=True)
    for login in [e.login for e in book.entries.values() if e.demo]:
        book.remove(login)
    click.echo(f"demo accounts in {book.path} — passwords are shown only now / 演示账号（密码仅显示这一次）:")
    for login, role, scope in accounts:
        password = new_password()
        entry = book.add_user(login, role, password, demo=True, replace=True, **scope)
        extra = f" (school no {row[0]})" if role == "parent" else ""
        click.echo(f"  {login:22} {password}  {ROLES[role].zh} {role}, {_scope_text(entry)}{extra}")
    book.save()


@click.command()
@click.option("--port", default=8866, show_default=True, type=int)
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on (put HTTPS in front).")
@STORE_OPT
@USERS_OPT
@click.option("--apps", "apps_dir", default=None, type=click.Path(file_okay=False, exists=True),
              help="Folder of the published apps (default: voila_apps/ of the project).")
@click.option("--preheat/--no-preheat", default=True, show_default=True,
              help="Keep one kernel per app executed up to its get_query_string() call, ready for the next visitor "
                   "(pages open in seconds; costs one idle kernel per app).")
@click.option("--max-kernels", default=20, show_default=True, type=click.IntRange(0),
              help="Most pages open at once (each holds a kernel: 0.1-0.3 GB for the apps so far); 0 = no cap.")
@click.option("--cull-idle", default=600, show_default=True, type=click.IntRange(0),
              help="Shut down a kernel idle this many seconds, even with its page open (0 = never).")
@click.option("--refill-delay", default=5.0, show_default=True, type=click.FloatRange(0),
              help="Seconds before a used preheated kernel is replaced: its start would otherwise slow the page that "
                   "took it (a small server has few cores).")
@click.option("--behind-https", is_flag=True, help="An HTTPS reverse proxy is in front: session cookies are Secure.")
@click.option("--show-tracebacks", is_flag=True, hidden=True, help="Show cell tracebacks in pages (tests only).")
def serve(port, ip, store_path, users_path, apps_dir, preheat, max_kernels, cull_idle, refill_delay, behind_https,
          show_tracebacks) -> None:
    """Publish the Voila apps: login per user, each role its apps, URL parameters checked against the scope,
    the signed viewer handed to the kernel / 发布 Voila 应用（登录、角色、权限范围）."""
    from workbench.serve.launch import DEFAULT_APPS, ServeOptions, serve as run
    store = default_store_path(store_path)
    opts = ServeOptions(apps_dir=Path(apps_dir) if apps_dir else DEFAULT_APPS, store=store,
                        users=default_users_path(users_path, store_path), port=port, ip=ip, preheat=preheat,
                        max_kernels=max_kernels, cull_idle=cull_idle, cull_interval=max(1, min(60, cull_idle // 4 or 60)),
                        refill_delay=refill_delay, behind_https=behind_https, show_tracebacks=show_tracebacks)
    try:
        run(opts, echo=click.echo)
    except UsersFileError as exc:
        raise click.ClickException(str(exc)) from None
