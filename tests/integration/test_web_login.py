"""Signing in to the pages: a wrong password is refused, repeated ones lock the account,
a page without a signed-in person sends to the sign-in, a POST without its token is refused."""

from __future__ import annotations

from tests.integration.people_setup import PASSWORD
from tests.integration.web_setup import Served, csrf_of, served  # noqa: F401


def test_a_page_without_a_signed_in_person_sends_to_sign_in(served: Served):  # noqa: F811
    with served.client() as client:
        response = client.get("/bays/rows")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/bays/rows"
        assert client.get("/login").status_code == 200


def test_a_wrong_password_is_refused_and_repeated_ones_lock_the_account(served: Served):  # noqa: F811
    failures = served.people.settings.people.lockout_failures
    with served.client() as client:
        for _ in range(failures - 1):
            refused = client.post(
                "/login",
                data={
                    "username": "cora",
                    "password": "wrong one!",
                    "csrf": csrf_of(client, "/login"),
                },
            )
            assert refused.status_code == 401
            assert "用户名或密码错误" in refused.text
        locked = client.post(
            "/login",
            data={"username": "cora", "password": "wrong one!", "csrf": csrf_of(client, "/login")},
        )
        assert locked.status_code == 401
        assert "已锁定" in locked.text
        # Locked: even the right password is refused now.
        right = client.post(
            "/login",
            data={"username": "cora", "password": PASSWORD, "csrf": csrf_of(client, "/login")},
        )
        assert right.status_code == 401
        assert "已锁定" in right.text
        assert client.get("/").status_code == 303


def test_the_right_password_signs_in_with_a_strict_http_only_cookie(served: Served):  # noqa: F811
    with served.client() as client:
        token = csrf_of(client, "/login")
        response = client.post(
            "/login", data={"username": "cora", "password": PASSWORD, "csrf": token}
        )
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Secure" not in cookie  # plain http here; over https it is Secure
        bays = client.get("/")
        assert bays.status_code == 200
        assert "仓位" in bays.text
        assert bays.text.count('class="bay"') == served.people.settings.bays.count


def test_a_post_without_its_csrf_token_is_refused(served: Served):  # noqa: F811
    with served.signed_in("cora") as client:
        assert client.post("/logout", data={}).status_code == 403
        assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
        assert client.get("/").status_code == 200  # still signed in: nothing was done
        token = csrf_of(client, "/")
        assert client.post("/logout", data={"csrf": token}).status_code == 303
        assert client.get("/").status_code == 303  # signed out
