"""CSRF by Apollo Server's rule, over real HTTP: stock clients need no extra header; what a
cross-site page can send without a preflight is refused before anything runs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from conftest import PASSWORD, make_settings, serve_gateway, unique_email
from gql import Client, GraphQLRequest
from gql.transport.requests import RequestsHTTPTransport
from support.user_service_process import UserServiceProcess

from gateway_graphql.remote.user_service import User
from gateway_graphql.web.csrf import PREFLIGHT_HEADERS, mime_essence

SIGNUP = "mutation Signup($i: SignupInput!) { signup(input: $i) { ok errors { field } } }"
LOGIN = "mutation Login($i: LoginInput!) { login(input: $i) { errors { code } } }"
UPDATE = (
    "mutation Rename($name: String!) { updateMe(input: {displayName: $name}) "
    "{ user { displayName } errors { field } } }"
)
ME = "query Me { me { displayName } }"


@pytest.fixture(scope="module")
def gateway(user_service: UserServiceProcess) -> Iterator[str]:
    """The gateway over HTTP in development mode: a session cookie that is not ``Secure``, so
    that clients keep sending it over plain http."""
    with serve_gateway(make_settings(user_service.target, app_env="development")) as url:
        yield f"{url}/graphql"


def test_a_stock_gql_client_signs_up_logs_in_and_updates_its_profile(gateway: str) -> None:
    transport = RequestsHTTPTransport(url=gateway, timeout=10)  # gql's defaults: no headers
    sent: list[dict[str, str]] = []
    email = unique_email("stock")
    with Client(transport=transport) as session:
        assert transport.session is not None
        transport.session.hooks["response"].append(
            lambda response, *_, **__: sent.append(dict(response.request.headers))
        )

        def run(query: str, **variables: Any) -> Any:
            return session.execute(GraphQLRequest(query, variable_values=variables or None))

        signup = run(SIGNUP, i={"email": email, "password": PASSWORD, "displayName": "Stock"})
        assert signup["signup"] == {"ok": True, "errors": []}
        login = run(LOGIN, i={"email": email, "password": PASSWORD})
        assert login["login"]["errors"] == []
        assert transport.session.cookies.get("gateway_session")  # the session rides the cookie
        renamed = run(UPDATE, name="Renamed by gql")
        assert renamed["updateMe"] == {"user": {"displayName": "Renamed by gql"}, "errors": []}
        assert run(ME) == {"me": {"displayName": "Renamed by gql"}}
    assert len(sent) == 4
    for headers in sent:
        names = {name.lower() for name in headers}
        assert names.isdisjoint(h.lower() for h in (*PREFLIGHT_HEADERS, "Authorization"))
        assert headers["Content-Type"].startswith("application/json")


@pytest.fixture
def browser_session(gateway: str, make_user: Callable[..., User]) -> requests.Session:
    """An HTTP session holding the session cookie of a new user named "Before", as a browser
    would hold it while the user visits another site."""
    user = make_user("Before")
    http = requests.Session()
    login = http.post(
        gateway,
        json={"query": LOGIN, "variables": {"i": {"email": user.email, "password": PASSWORD}}},
        timeout=10,
    )
    assert login.json()["data"]["login"]["errors"] == []
    assert http.cookies.get("gateway_session")
    return http


def _me(http: requests.Session, gateway: str) -> str:
    result = http.post(gateway, json={"query": ME}, timeout=10).json()
    return str(result["data"]["me"]["displayName"])


UPDATE_BODY = json.dumps({"query": UPDATE, "variables": {"name": "Forged"}})


def _simple_posts() -> list[Any]:
    """What a page on another site can make a browser send with the cookie and no preflight."""
    form = {"query": UPDATE, "variables": json.dumps({"name": "Forged"})}
    return [
        pytest.param({"data": UPDATE_BODY, "headers": {"Content-Type": "text/plain"}}, id="text"),
        pytest.param(
            {"data": UPDATE_BODY, "headers": {"Content-Type": "text/plain;charset=UTF-8"}},
            id="text-charset",
        ),
        pytest.param(
            {"data": UPDATE_BODY, "headers": {"Content-Type": "Text/Plain ; a=b"}}, id="text-case"
        ),
        pytest.param({"data": form}, id="urlencoded-form"),
        pytest.param({"files": {k: (None, v) for k, v in form.items()}}, id="multipart-form"),
        # fetch() with a Blob body that has no type sends no Content-Type at all
        pytest.param({"data": UPDATE_BODY.encode(), "headers": {}}, id="no-content-type"),
        # a preflight header with an empty value forces no preflight... and proves nothing
        pytest.param(
            {
                "data": UPDATE_BODY,
                "headers": {"Content-Type": "text/plain", "X-Requested-With": ""},
            },
            id="empty-header",
        ),
    ]


@pytest.mark.parametrize("post", _simple_posts())
def test_mutations_a_cross_site_page_can_send_are_refused(
    gateway: str, browser_session: requests.Session, post: dict[str, Any]
) -> None:
    response = browser_session.post(gateway, timeout=10, **post)
    assert response.status_code == 403
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "CSRF_PREVENTED"}
    assert "Cross-Site Request Forgery" in error["message"]
    assert "Apollo-Require-Preflight" in error["message"]
    assert "Set-Cookie" not in response.headers
    assert _me(browser_session, gateway) == "Before"  # nothing ran


def test_login_by_form_post_is_refused(gateway: str, make_user: Callable[..., User]) -> None:
    user = make_user()
    variables = json.dumps({"i": {"email": user.email, "password": PASSWORD}})
    response = requests.post(gateway, data={"query": LOGIN, "variables": variables}, timeout=10)
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_PREVENTED"
    assert "Set-Cookie" not in response.headers  # no login CSRF


@pytest.mark.parametrize("header", PREFLIGHT_HEADERS)
def test_a_preflight_header_passes_the_csrf_rule(
    gateway: str, browser_session: requests.Session, header: str
) -> None:
    response = browser_session.post(
        gateway,
        data=UPDATE_BODY,
        headers={"Content-Type": "text/plain", header: "Rename"},
        timeout=10,
    )
    # Past the CSRF rule: the body is then refused for what it is (not GraphQL JSON).
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "message": "Unsupported content type",
        "extensions": {"code": "BAD_REQUEST"},
    }


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_json_mutations_need_no_header(
    gateway: str, browser_session: requests.Session, content_type: str
) -> None:
    name = f"Json {uuid.uuid4().hex[:6]}"
    response = browser_session.post(
        gateway,
        data=json.dumps({"query": UPDATE, "variables": {"name": name}}),
        headers={"Content-Type": content_type},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["updateMe"]["user"]["displayName"] == name


def test_mutations_over_get_stay_refused(gateway: str, browser_session: requests.Session) -> None:
    response = browser_session.get(
        gateway,
        params={"query": UPDATE, "variables": json.dumps({"name": "Forged"})},
        headers={"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"},
        timeout=10,
    )
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert _me(browser_session, gateway) == "Before"


@pytest.mark.parametrize(
    ("content_type", "essence"),
    [
        ("text/plain", "text/plain"),
        (" MULTIPART/Form-Data; boundary=x", "multipart/form-data"),
        ("application/x-www-form-urlencoded;charset=UTF-8", "application/x-www-form-urlencoded"),
        ("text/plain/extra", None),  # browsers preflight what they cannot parse
        ("text/", None),
        ("text plain", None),
        ("", None),
    ],
)
def test_mime_essence_reads_content_types_as_browsers_do(
    content_type: str, essence: str | None
) -> None:
    assert mime_essence(content_type) == essence
