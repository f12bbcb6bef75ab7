"""Running the whole dock on one machine (`make run`): local servers, a registry, a scenario."""
