"""A running dock's pages for the web tests: real SQLite, real argon2, uvicorn on loopback.

`Served` starts dock.web.serve.start_web (the function `dock serve` calls) on a free port
over a People data dir (tests/integration/people_setup.py) and always stops it.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from dock.clock import SystemClock
from dock.web.serve import start_web
from tests.integration.people_setup import PASSWORD, People


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, people: People, url: str) -> None:
        self.people = people
        self.url = url

    def client(self) -> httpx.Client:
        """A plain HTTP client with its own cookie jar: a browser of its own."""
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=20)

    @contextmanager
    def signed_in(self, username: str) -> Iterator[httpx.Client]:
        """A client signed in as username, closed after."""
        with self.client() as client:
            response = client.post(
                "/login",
                data={
                    "username": username, "password": PASSWORD,
                    "csrf": csrf_of(client, "/login"),
                },
            )  # fmt: skip
            assert response.status_code == 303, response.text
            yield client


def csrf_of(client: httpx.Client, path: str) -> str:
    """The CSRF token in the form of the page at path (as a browser would submit it)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, f"no CSRF token in {path}"
    return found.group(1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    people = People(tmp_path)
    port = free_port()
    stop = start_web(people.settings, people.db, listen=f"127.0.0.1:{port}", clock=SystemClock())
    try:
        yield Served(people, f"http://127.0.0.1:{port}")
    finally:
        stop()
        people.close()
