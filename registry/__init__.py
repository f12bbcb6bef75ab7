"""The central registry: what every dock reports over MQTT, each dock's journal chain
checked row by row, and the supervisors' dashboard."""
