"""The users file: hashing, the loader's errors (with the file and the path inside it), verify, the CLI
(add / list / set-password / demo), and a parent's child resolved through the demo school's vault."""
from __future__ import annotations

import hashlib
import stat

import duckdb
import pytest
import yaml
from click.testing import CliRunner

import workbench.privacy.users as users_mod
from workbench.cli import main
from workbench.privacy.users import (MIN_ITERATIONS, Users, UsersFileError, check_secret, default_users_path,
                                     hash_secret, parse_users)
from workbench.privacy.viewer import Viewer
from workbench.student_keys import key_hex

FAST = MIN_ITERATIONS          # tests hash with the minimum the loader accepts


@pytest.fixture(scope="module")
def secret() -> str:
    return hash_secret("pw-one-2345", iterations=FAST)


def test_hash_format_salt_and_check(secret, monkeypatch):
    algorithm, iterations, salt, digest = secret.split("$")
    assert (algorithm, int(iterations), len(bytes.fromhex(salt)), len(bytes.fromhex(digest))) == \
        ("pbkdf2_sha256", FAST, 16, 32)
    assert digest == hashlib.pbkdf2_hmac("sha256", b"pw-one-2345", bytes.fromhex(salt), FAST).hex()
    assert hash_secret("pw-one-2345", iterations=FAST) != secret                  # a new salt every time
    assert users_mod.DEFAULT_ITERATIONS >= 200_000
    calls = []
    real = users_mod.hmac.compare_digest
    monkeypatch.setattr(users_mod.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert check_secret("pw-one-2345", secret) and not check_secret("pw-one-2346", secret)
    assert len(calls) == 2                                                         # constant-time comparison
    assert not check_secret("pw-one-2345", "pw-one-2345")                          # a plain text "secret" never matches
    with pytest.raises(ValueError, match="at least 200000"):
        hash_secret("x", iterations=100_000)


def test_loader_reports_every_problem_with_file_and_path(tmp_path, secret):
    weak = hashlib.pbkdf2_hmac("sha256", b"x", b"s" * 16, 1000).hex()
    doc = {"version": 1, "users": [
        {"login": "li_t", "role": "head_teacher", "classes": ["G7C1"], "secret": secret},
        {"login": "wang_t", "role": "teacher", "classes": ["G7C2"], "secret": secret},
        {"login": "zhao_t", "role": "subject_teacher", "secret": secret},
        {"login": "mum", "role": "parent", "student": "2026070101", "secret": secret},
        {"login": "li_t", "role": "school_admin", "secret": secret},
        {"login": "chen", "role": "researcher", "clases": ["G7C1"], "secret": "hunter22"},
        {"login": "old", "role": "researcher", "secret": f"pbkdf2_sha256$1000${(b's' * 16).hex()}${weak}"},
        {"login": "sun", "role": "parent", "classes": ["G7C1"], "student": "S" + "a" * 24, "secret": secret},
    ]}
    path = tmp_path / "users.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(UsersFileError) as err:
        Users.load(path)
    problems = err.value.problems
    assert all(p.startswith(f"{path}: ") for p in problems)
    expected = [
        "users[1].role: unknown role 'teacher'; did you mean head_teacher?",
        "users[2].classes: the role subject_teacher needs at least one class",
        "users[3].student: a parent needs the child's student_key (S + 11 letters and digits), got '2026070101'",
        "users[4].login: 'li_t' is already used by users[0]",
        "users[5]: unknown field 'clases'; did you mean classes?",
        "users[5].secret: not a hashed secret",
        "users[6].secret: 1000 iterations; at least 200000 are needed",
        "users[7].classes: the role parent has no classes (its scope is student)",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) == len(expected)
    assert "hunter22" not in str(err.value)                                        # the bad secret is not echoed

    _, top = parse_users({"version": 2, "users": {}}, "u.yaml")
    assert top == ["u.yaml: version: expected 1, found 2", "u.yaml: users: expected a list of users"]
    path.write_text("version: 1\nusers: [login: x\n", encoding="utf-8")
    with pytest.raises(UsersFileError, match="not valid YAML"):
        Users.load(path)
    with pytest.raises(UsersFileError, match="no users file; add users with `workbench users add`"):
        Users.load(tmp_path / "missing.yaml")


def test_verify_save_round_trip_and_password_change(tmp_path):
    book = Users(tmp_path / "sub" / "users.yaml")
    book.add_user("li_t", "head_teacher", "pw-li-2345", classes=["G7C1", "G7C2"], iterations=FAST)
    book.add_user("mum", "parent", "pw-mum-2345", student="S" + "b" * 24, iterations=FAST)
    book.add_user("admin", "school_admin", "pw-admin-23", schools=["DEMO01"], iterations=FAST)
    with pytest.raises(UsersFileError, match="exists"):
        book.add_user("mum", "parent", "x" * 9, student="S" + "c" * 24, iterations=FAST)
    with pytest.raises(UsersFileError, match=r"users\[x\]\.role: unknown role 'admin'; did you mean school_admin"):
        book.add_user("x", "admin", "x" * 9, iterations=FAST)
    path = book.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert "pw-li-2345" not in text and text.count("pbkdf2_sha256$") == 3

    loaded = Users.load(path)
    assert loaded.entries == book.entries
    loaded.save()
    assert path.read_text(encoding="utf-8") == text                              # load → save changes nothing
    assert loaded.verify("li_t", "pw-li-2345") == Viewer("li_t", "head_teacher", classes=("G7C1", "G7C2"))
    assert loaded.verify("mum", "pw-mum-2345") == Viewer("mum", "parent", student="S" + "b" * 24)
    assert loaded.verify("admin", "pw-admin-23").schools == ("DEMO01",)
    assert loaded.verify("li_t", "pw-mum-2345") is None and loaded.verify("nobody", "pw-li-2345") is None

    before = loaded.entries["li_t"].secret_id
    loaded.set_password("li_t", "new-pw-2345", iterations=FAST)
    assert loaded.entries["li_t"].secret_id != before                             # open sessions end
    assert loaded.verify("li_t", "pw-li-2345") is None and loaded.verify("li_t", "new-pw-2345") is not None


def test_default_path(monkeypatch, tmp_path):
    monkeypatch.delenv("WORKBENCH_USERS", raising=False)
    assert default_users_path(None, tmp_path / "s.duckdb") == tmp_path / "users.yaml"
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "x" / "w.duckdb"))
    assert default_users_path() == tmp_path / "x" / "users.yaml"
    monkeypatch.setenv("WORKBENCH_USERS", str(tmp_path / "u.yaml"))
    assert default_users_path() == tmp_path / "u.yaml"
    assert default_users_path("given.yaml") == users_mod.Path("given.yaml")


# ---------------------------------------------------------------------------------------------- CLI
def _cli(*args: str, input: str | None = None):
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def vault_child(demo_school):
    """(school number, student_key, name) of the first G7C1 student in the demo school's vault."""
    con = duckdb.connect(str(demo_school["store"]), read_only=True)
    try:
        return con.execute("""SELECT v.source_id, v.student_key, iv.name FROM enrolments e
            JOIN identity_vault_ids v USING (student_key) JOIN identity_vault iv USING (student_key)
            WHERE e.class_id = 'G7C1' AND v.system = 'school_no' ORDER BY 1 LIMIT 1""").fetchone()
    finally:
        con.close()


def test_cli_add_list_set_password_with_parent_from_vault(demo_school, vault_child, tmp_path, monkeypatch):
    monkeypatch.setattr(users_mod, "DEFAULT_ITERATIONS", FAST)
    store, file = str(demo_school["store"]), str(tmp_path / "users.yaml")
    school_no, key, name = vault_child
    r = _cli("users", "add", "--login", "mum_0101", "--role", "parent", "--student-no", school_no,
             "--password-stdin", "--users", file, "--store", store, input="mum-secret-1\n")
    assert r.exit_code == 0, r.output
    r = _cli("users", "add", "--login", "li_t", "--role", "subject_teacher", "--class", "G7C1", "--class", "G7C2",
             "--users", file, "--store", store)
    assert r.exit_code == 0, r.output
    generated = r.output.split("初始密码（仅显示一次）: ")[1].strip()
    text = open(file, encoding="utf-8").read()
    assert key in text and school_no not in text and name not in text and "mum-secret-1" not in text

    book = Users.load(file)
    assert book.verify("mum_0101", "mum-secret-1") == Viewer("mum_0101", "parent", student=key)
    assert book.verify("li_t", generated).classes == ("G7C1", "G7C2")

    listed = _cli("users", "list", "--users", file, "--store", store).output
    assert "mum_0101" in listed and f"S-{key_hex(key)[:6]}" in listed and "G7C1,G7C2" in listed
    assert "pbkdf2" not in listed and key not in listed

    r = _cli("users", "set-password", "--login", "li_t", "--password-stdin", "--users", file, input="changed-pw-1\n")
    assert r.exit_code == 0 and Users.load(file).verify("li_t", "changed-pw-1") is not None

    for args, message in [
        (("--login", "x_1", "--role", "head_teacher", "--class", "G7C9"), "unknown class(es) G7C9"),
        (("--login", "x_2", "--role", "parent", "--student-no", "1999999999"), "no student with school number 1999999999"),
        (("--login", "x_3", "--role", "head_teacher", "--class", "G7C1", "--password-stdin"), "at least 8 characters"),
        (("--login", "li_t", "--role", "head_teacher", "--class", "G7C1"), "exists"),
    ]:
        r = _cli("users", "add", *args, "--users", file, "--store", store, input="short\n")
        assert r.exit_code != 0 and message in r.output, (args, r.output)


def test_cli_demo_accounts_one_per_role(demo_school, vault_child, tmp_path, monkeypatch):
    monkeypatch.setattr(users_mod, "DEFAULT_ITERATIONS", FAST)
    file = tmp_path / "users.yaml"
    book = Users(file)
    book.add_user("kept", "researcher", "kept-pw-123", iterations=FAST)
    book.save()
    out = ""
    for _ in range(2):                                     # a second run replaces the demo accounts, keeps others
        r = _cli("users", "demo", "--users", str(file), "--store", str(demo_school["store"]))
        assert r.exit_code == 0, r.output
        out = r.output
    book = Users.load(file)
    roles = {e.role for e in book.entries.values() if e.demo}
    assert roles == {"head_teacher", "subject_teacher", "psychology_teacher", "parent", "school_admin",
                     "district_admin", "researcher"}
    assert len(book.entries) == 8 and not book.entries["kept"].demo
    passwords = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    for login, password in passwords.items():
        assert book.verify(login, password) is not None, login
    assert book.entries["demo_parent_g7c1"].student == vault_child[1]
    assert book.entries["demo_subject_g7"].classes == ("G7C1", "G7C2")
    assert not any(p in file.read_text(encoding="utf-8") for p in passwords.values())
