"""Benchmarks: `python -m bench` (or `make bench`) runs every module here.

Each module `bench/<name>.py` has `run() -> list[dict]`, one dict per measurement with the
keys name, figures (a dict of numbers) and units (a dict: figure -> unit). Timings live here
and nowhere in the tests, which never assert wall-clock times.
"""
