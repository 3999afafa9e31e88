"""The central config: the contract's example reads, unknown keys and bad values are named."""

from __future__ import annotations

import pytest

from ravao_central.config import CentralConfig, config_path
from ravao_protocol.configfile import ConfigError, parse_toml

EXAMPLE = '''
[database]
url = "sqlite:////var/lib/ravao-central/central.db"
[mqtt]
url = "mqtt://127.0.0.1:1883"
username = ""
password = ""
ca_file = ""
topic_prefix = "ravao"
client_id = "ravao-central"
shared_group = ""
[privacy]
key_file = "/var/lib/ravao-central/record.key"
[tracing]
default_dwell_minutes = 60
min_overlap_minutes = 15
[retention]
days = 30
[web]
listen = "127.0.0.1:8080"
'''


def test_the_contracts_example_is_the_default():
    assert parse_toml(EXAMPLE, CentralConfig) == CentralConfig()
    assert parse_toml("", CentralConfig) == CentralConfig()


@pytest.mark.parametrize("text, named", [
    ("[mqtt]\nclientid = 'x'", "mqtt.clientid: unknown key"),
    ("[databse]\nurl = 'x'", "databse: unknown key"),
    ("[database]\nurl = 'mysql://x'", "database.url: must start with sqlite:/// or postgresql://"),
    ("[mqtt]\nurl = 'http://x'", "mqtt.url"),
    ("[tracing]\ndefault_dwell_minutes = 0", "tracing.default_dwell_minutes"),
    ("[tracing]\nmin_overlap_minutes = '15'", "tracing.min_overlap_minutes: must be a whole number"),
    ("[retention]\ndays = true", "retention.days"),
    ("[web]\nlisten = '8080'", "web.listen: must be HOST:PORT"),
    ("[mqtt]\nshared_group = 'a/b'", "mqtt.shared_group"),
    ("[mqtt\n", "not valid TOML"),
])
def test_a_bad_config_names_its_key(text, named):
    with pytest.raises(ConfigError) as caught:
        parse_toml(text, CentralConfig, "central.toml")
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_where_the_config_is_looked_for(monkeypatch):
    monkeypatch.delenv("RAVAO_CENTRAL_CONFIG", raising=False)
    assert str(config_path(None)) == "/etc/ravao/central.toml"
    monkeypatch.setenv("RAVAO_CENTRAL_CONFIG", "/tmp/c.toml")
    assert str(config_path(None)) == "/tmp/c.toml" and str(config_path("/x.toml")) == "/x.toml"
