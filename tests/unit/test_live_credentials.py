"""Accounts, ACL and login of a secured broker (no broker needed)."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest

from kvs_sim.live import credentials as cr
from kvs_sim.live.topics import parse_url


def _creds() -> cr.Credentials:
    c = cr.Credentials(url="mqtt://127.0.0.1:1883")
    c.add_cluster("alpha", [1000])
    return c


def test_accounts_of_a_cluster() -> None:
    acc = _creds().clusters["alpha"]
    assert sorted(acc) == ["ranks", "uid0", "uid1000"]
    assert acc["ranks"].username == "alpha.ranks"
    assert acc["uid1000"].username == "alpha.uid1000"
    assert len({a.password for a in acc.values()}) == 3


def test_acl_gives_clients_only_their_own_topics() -> None:
    text = cr.acl_text(_creds())
    blocks = {b.split()[0]: b.strip().split("\n")[1:] for b in text.split("\nuser ")[1:]}
    assert blocks["alpha.ranks"] == ["topic readwrite kvs-sim/alpha/#"]
    assert blocks["alpha.uid1000"] == [
        "topic write kvs-sim/alpha/req/alpha.uid1000/+",
        "topic read kvs-sim/alpha/client/alpha.uid1000/#",
    ]
    assert "topic write kvs-sim/alpha/req/alpha.uid0/+" in blocks["alpha.uid0"]
    assert not any("write kvs-sim/alpha/#" in line for line in blocks["alpha.uid0"])


def test_password_hash_is_mosquittos_pbkdf2() -> None:
    h = cr.hash_password("s3cret", salt=b"0123456789ab")
    _, kind, rounds, salt, digest = h.split("$")
    assert (kind, rounds) == ("7", "101")
    expected = hashlib.pbkdf2_hmac("sha512", b"s3cret", base64.b64decode(salt), 101)
    assert base64.b64decode(digest) == expected
    line = cr.passwd_text(_creds()).splitlines()[0]
    assert line.startswith("alpha.ranks:$7$101$")


@pytest.mark.parametrize(
    ("username", "cluster", "uid"),
    [
        ("alpha.uid0", "alpha", 0),
        ("alpha.uid1000", "alpha", 1000),
        ("*.uid5", "alpha", 5),
        ("beta.uid5", "alpha", None),
        ("alpha.ranks", "alpha", None),
        ("alpha.uidx", "alpha", None),
        ("anonymous", "alpha", None),
    ],
)
def test_uid_comes_from_the_account_name(username: str, cluster: str, uid: int | None) -> None:
    assert cr.uid_of(username, cluster) == uid


def test_login_reads_the_file_by_host_and_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv(cr.ENV_FILE, raising=False)
    url = parse_url("mqtt://127.0.0.1:1883")
    assert cr.login(url, "alpha", cr.RANKS) == (url, None)  # no file: anonymous
    creds = _creds()
    path = cr.default_path("127.0.0.1", 1883)
    creds.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    got, ca = cr.login(url, "alpha", 1000)
    assert (got.username, got.password, ca) == (
        "alpha.uid1000",
        creds.clusters["alpha"]["uid1000"].password,
        None,
    )
    with pytest.raises(cr.CredentialsError, match=r"cluster 'beta'.*--cluster beta"):
        cr.login(url, "beta", cr.RANKS)
    with pytest.raises(cr.CredentialsError, match=r"no account for uid 7 .*uids 0, 1000"):
        cr.login(url, "alpha", 7)
    own = parse_url("mqtt://me:pw@127.0.0.1:1883")
    assert cr.login(own, "alpha", cr.RANKS) == (own, None)  # the URL's user wins


def test_login_with_a_named_file(tmp_path: Path) -> None:
    url = parse_url("mqtt://127.0.0.1:1883")
    with pytest.raises(cr.CredentialsError, match="cannot read credentials file"):
        cr.login(url, "alpha", 0, tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"url": "x"}))
    with pytest.raises(cr.CredentialsError, match="malformed credentials file"):
        cr.login(url, "alpha", 0, bad)
    any_cluster = cr.Credentials(url="x", ca_file="/ca.pem")
    any_cluster.add_cluster(cr.ANY_CLUSTER)
    any_cluster.save(tmp_path / "any.json")
    got, ca = cr.login(url, "whatever", cr.RANKS, tmp_path / "any.json")
    assert (got.username, ca) == ("*.ranks", None)  # mqtt:// is not TLS
    got, ca = cr.login(parse_url("mqtts://h/c"), "whatever", 0, tmp_path / "any.json")
    assert (got.username, ca) == ("*.uid0", "/ca.pem")
