"""Real servers started by the tests on 127.0.0.1, each with its own data directory."""
