"""End-to-end fixtures: the real broker from tests/servers (PostgreSQL joins once the registry lands)."""

from tests.servers import mosquitto

make_broker = mosquitto.make_broker
