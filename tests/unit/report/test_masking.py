import pytest

from rally_osic.report.masking import MASK, mask, mask_text


def test_secret_keys_are_masked_recursively():
    spec = {
        "openstack": {
            "auth_url": "http://10.0.0.1:5000",
            "admin": {"username": "admin", "password": "s3cret"},
            "https_key": "k",
            "api_key": "abc",
            "token": "gAAAA",
            "users": [{"password": "p1"}],
            "db_pass": "dbp",
            "Authorization": "Basic dXNlcjpwYXNz",
        },
        "ssh": {"private_key": "-----BEGIN RSA PRIVATE KEY-----\nx"},
    }
    masked = mask(spec)
    text = str(masked)
    for secret in ("s3cret", "abc", "gAAAA", "p1", "BEGIN RSA", "dbp", "dXN"):
        assert secret not in text
    assert masked["openstack"]["admin"]["username"] == "admin"
    assert masked["openstack"]["auth_url"] == "http://10.0.0.1:5000"


# (text with a secret in it, the secret, what must survive the masking)
FORMS = [
    # URL passwords, including "/", ":" and "@" inside them
    ("mysql://nova:dbpass@10.0.0.2/nova", "dbpass", "@10.0.0.2/nova"),
    (
        "connection = mysql+pymysql://nova:pa/ss@w:rd@db:3306/nova",
        "pa/ss@w:rd",
        "mysql+pymysql://nova:",
    ),
    ("rabbit://openstack:s3cr@t@10.0.0.3:5672//", "s3cr@t", "@10.0.0.3"),
    ("redis://:r3d1s@cache:6379", "r3d1s", "@cache:6379"),
    # key=value and key: value, bare or quoted
    ("password=abc123 user=admin", "abc123", "user=admin"),
    ("token: xyz789, next", "xyz789", ", next"),
    ("rabbit_password = guest2", "guest2", "rabbit_password = "),
    ("admin_token='tok en'", "tok en", "admin_token="),
    ("?user=a&password=qs1&x=1", "qs1", "&x=1"),
    # OS_PASSWORD lines, as in an openrc
    ("export OS_PASSWORD=hunter2\nexport OS_USERNAME=admin", "hunter2", "ad"),
    ('OS_PASSWORD="hun ter"', "hun ter", "OS_PASSWORD="),
    ("OS_APPLICATION_CREDENTIAL_SECRET=acs1", "acs1", "OS_APP"),
    # JSON and Python dicts inside a string
    ('resp {"password": "x1y2", "user": "admin"}', "x1y2", '"user": "ad'),
    ("{'X-Auth-Token': 'tk99', 'Accept': 'json'}", "tk99", "'Accept'"),
    ('{"token": null_secret}', "null_secret", '{"token": '),
    ('body: {\\"password\\": \\"esc4pe\\"}', "esc4pe", '\\"password\\"'),
    ("{'Authorization': 'Bearer bt77'}", "bt77", "'Authorization'"),
    # ... nested in a container or in a quoted string (found by the
    # property test: a fault_at config's validation error quoted a JSON
    # document inside a Python dict)
    ('{"auth": {"password": "n3st"}}', "n3st", '{"auth": {"password": '),
    ("{'unit': '{\"password\": \"qu0t\"}', 'at': 8}", "qu0t", "'at': 8"),
    ('{"a": "{\\"password\\": \\"esc2\\"}"}', "esc2", '{"a": '),
    ('{"credentials": ["c]1", {"u": "v"}], "k": 1}', "c]1", '"k": 1'),
    ('{\\"tokens\\": [\\"t]k\\"], \\"n\\": 1}', "t]k", '\\"n\\"'),
    ('{"password": {"hash": [7, 8]}, "user": "u"}', "hash", '"user": "u"'),
    ('"private_key": [' + "pk" * 50, "pkpk", '"private_key": '),
    # HTTP headers
    ("Authorization: Bearer abc.def-123", "abc.def-123", "Authorization"),
    ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "Basic"),
    ("X-Auth-Token: gAAAAtoken\nAccept: json", "gAAAAtoken", "Accept"),
    ("Cookie: session=c00k; other=c2", "c00k", "Cookie: "),
    ("retry with Bearer zzz123 now", "zzz123", "now"),
    # command lines
    ("openstack --os-password hunter2 server list", "hunter2", "server"),
    ("--os-auth-token=tt55 --debug", "tt55", "--debug"),
    ("IDENTIFIED BY 'dbpw1'", "dbpw1", "IDENTIFIED BY"),
    # private keys, whole or cut off
    (
        "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAB3Nz\n"
        "-----END OPENSSH PRIVATE KEY-----\nafter",
        "AAAAB3Nz",
        "after",
    ),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEcut", "MIIEcut", ""),
    # bare keystone tokens
    ("token gAAAAAB" + "x" * 120 + " expired", "x" * 120, "expired"),
    (
        "jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.c2lnbmF0dXJl end",
        "eyJzdWIiOiIxMjM0",
        "end",
    ),
]


@pytest.mark.parametrize("text, secret, kept", FORMS)
def test_secret_forms_in_free_text(text, secret, kept):
    masked = mask_text(text)
    assert secret not in masked
    assert MASK in masked
    assert kept in masked


@pytest.mark.parametrize("text, _secret, _kept", FORMS)
def test_masking_is_idempotent(text, _secret, _kept):
    once = mask_text(text)
    assert mask_text(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "http://10.0.0.1:5000/v3/auth/tokens",
        "token_expiration=3600 user=admin pass_sla=true",
        "ServiceUnavailable: HTTP 503 (Request-ID: req-1234)",
        "password reset not supported",
        "GET /v2.1/servers?limit=20 returned 200",
    ],
)
def test_ordinary_text_untouched(text):
    assert mask_text(text) == text


def test_ordinary_values_untouched():
    config = {"users_per_tenant": 2, "pass_sla": True, "keystone": "ok"}
    assert mask(config) == config
