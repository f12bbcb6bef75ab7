"""Reporting to the central registry: the MQTT publisher, a durable reader of the journal."""
