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
        },
        "ssh": {"private_key": "-----BEGIN RSA PRIVATE KEY-----\nx"},
    }
    masked = mask(spec)
    text = str(masked)
    for secret in ("s3cret", "abc", "gAAAA", "p1", "BEGIN RSA"):
        assert secret not in text
    assert masked["openstack"]["admin"]["username"] == "admin"
    assert masked["openstack"]["auth_url"] == "http://10.0.0.1:5000"


def test_secrets_inside_text():
    text = (
        "mysql://nova:dbpass@10.0.0.2/nova --os-password hunter2 "
        "password=abc token: xyz\n-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "AAAA\n-----END OPENSSH PRIVATE KEY-----"
    )
    masked = mask_text(text)
    for secret in ("dbpass", "hunter2", "abc", "xyz", "AAAA"):
        assert secret not in masked
    assert masked.count(MASK) == 5


def test_ordinary_values_untouched():
    config = {"users_per_tenant": 2, "pass_sla": True, "keystone": "ok"}
    assert mask(config) == config
