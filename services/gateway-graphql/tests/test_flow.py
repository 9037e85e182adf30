"""The whole story through HTTP: signup -> login -> me -> updateMe -> logout -> me is null."""

from __future__ import annotations

from conftest import PASSWORD, SESSION_COOKIE, unique_email
from support.graphql_client import GraphQLTestClient
from support.rpc_counter import RpcCounter

SIGNUP = """
mutation ($input: SignupInput!) {
  signup(input: $input) { ok errors { field message code } }
}
"""
LOGIN = """
mutation ($input: LoginInput!) {
  login(input: $input) { user { id email } token expiresAt errors { field message code } }
}
"""
ME = "{ me { id email displayName invitedBy { displayName email } } }"
UPDATE_ME = """
mutation ($input: UpdateMeInput!) {
  updateMe(input: $input) { user { id email displayName } errors { field message code } }
}
"""
LOGOUT = "mutation { logout(input: {}) { ok errors { message } } }"


def test_signup_login_me_update_logout_with_the_cookie(
    gql: GraphQLTestClient, rpc_counter: RpcCounter
) -> None:
    email = unique_email("flow")
    signed_up = gql.execute(
        SIGNUP, {"input": {"email": email, "password": PASSWORD, "displayName": "Flo"}}
    )["data"]["signup"]
    # signup says nothing about the account (it would tell a taken address apart): log in next
    assert signed_up == {"ok": True, "errors": []}

    login = gql.post(LOGIN, {"input": {"email": email, "password": PASSWORD}})
    assert login.status_code == 200
    payload = login.get_json()["data"]["login"]
    assert payload["errors"] == []
    user = payload["user"]
    assert isinstance(user["id"], str)
    assert user["email"] == email
    assert payload["token"] is None  # the cookie carries it, out of reach of the page's scripts
    assert payload["expiresAt"]
    assert login.headers["Set-Cookie"].startswith(f"{SESSION_COOKIE}=")

    rpc_counter.reset()
    me = gql.execute(ME)["data"]["me"]
    assert me == {"id": user["id"], "email": email, "displayName": "Flo", "invitedBy": None}
    assert rpc_counter.counts() == {"ValidateSession": 1}  # once, though two fields need it

    updated = gql.execute(UPDATE_ME, {"input": {"displayName": "Florence"}})["data"]["updateMe"]
    assert updated == {
        "user": {"id": user["id"], "email": email, "displayName": "Florence"},
        "errors": [],
    }
    assert gql.execute(ME)["data"]["me"]["displayName"] == "Florence"

    logout = gql.post(LOGOUT)
    assert logout.get_json()["data"]["logout"] == {"ok": True, "errors": []}
    assert logout.headers["Set-Cookie"].startswith(f"{SESSION_COOKIE}=;")  # cleared
    assert gql.execute(ME) == {"data": {"me": None}}


def test_bearer_token_flow_and_revocation(gql: GraphQLTestClient) -> None:
    email = unique_email("bearer")
    gql.execute(SIGNUP, {"input": {"email": email, "password": PASSWORD, "displayName": "B"}})
    credentials = {"email": email, "password": PASSWORD, "tokenDelivery": "BEARER"}
    login = gql.post(LOGIN, {"input": credentials})
    token = login.get_json()["data"]["login"]["token"]
    assert token
    assert "Set-Cookie" not in login.headers  # the client asked for the token: no cookie

    assert gql.execute(ME, token=token)["data"]["me"]["email"] == email
    # Bearer requests need no CSRF header, even for mutations
    out = gql.execute(LOGOUT, token=token)
    assert out["data"]["logout"]["ok"] is True
    assert gql.execute(ME, token=token) == {"data": {"me": None}}


def test_change_password_ends_the_session(gql: GraphQLTestClient) -> None:
    email = unique_email("pw")
    gql.execute(SIGNUP, {"input": {"email": email, "password": PASSWORD, "displayName": "P"}})
    gql.execute(LOGIN, {"input": {"email": email, "password": PASSWORD}})
    change = """
    mutation ($input: ChangePasswordInput!) {
      changePassword(input: $input) { ok errors { field message code } }
    }
    """
    wrong = gql.execute(
        change, {"input": {"currentPassword": "not it at all", "newPassword": "a new secret 42"}}
    )["data"]["changePassword"]
    assert wrong["ok"] is False
    assert wrong["errors"] == [
        {
            "field": "currentPassword",
            "message": "Current password does not match the current password.",
            "code": "INVALID",
        }
    ]
    response = gql.post(
        change, {"input": {"currentPassword": PASSWORD, "newPassword": "a new secret 42"}}
    )
    assert response.get_json()["data"]["changePassword"] == {"ok": True, "errors": []}
    assert response.headers["Set-Cookie"].startswith(f"{SESSION_COOKIE}=;")
    assert gql.execute(ME) == {"data": {"me": None}}
    again = gql.execute(LOGIN, {"input": {"email": email, "password": "a new secret 42"}})
    assert again["data"]["login"]["errors"] == []


def test_signup_reports_invalid_input_as_user_errors(gql: GraphQLTestClient) -> None:
    taken = unique_email("taken")
    gql.execute(SIGNUP, {"input": {"email": taken, "password": PASSWORD, "displayName": "T"}})
    result = gql.execute(
        SIGNUP, {"input": {"email": "not-an-email", "password": "short", "displayName": " "}}
    )
    assert "errors" not in result
    payload = result["data"]["signup"]
    assert payload["ok"] is False
    assert {(e["field"], e["code"]) for e in payload["errors"]} == {
        ("email", "INVALID"),
        ("password", "INVALID"),
        ("displayName", "INVALID"),
    }
    assert "Email is not a valid email address." in [e["message"] for e in payload["errors"]]

    # A taken address answers exactly like a new one (its owner is emailed instead).
    new = gql.execute(
        SIGNUP, {"input": {"email": unique_email("new"), "password": PASSWORD, "displayName": "N"}}
    )
    dup = gql.execute(
        SIGNUP, {"input": {"email": taken, "password": PASSWORD, "displayName": "T2"}}
    )
    assert dup == new == {"data": {"signup": {"ok": True, "errors": []}}}


def test_wrong_password_is_a_user_error(gql: GraphQLTestClient) -> None:
    email = unique_email("wrong")
    gql.execute(SIGNUP, {"input": {"email": email, "password": PASSWORD, "displayName": "W"}})
    payload = gql.execute(LOGIN, {"input": {"email": email, "password": "wrong password!"}})[
        "data"
    ]["login"]
    assert payload == {
        "user": None,
        "token": None,
        "expiresAt": None,
        "errors": [
            {"field": None, "message": "Invalid email or password.", "code": "INVALID_CREDENTIALS"}
        ],
    }


def test_email_is_hidden_from_other_users(gql: GraphQLTestClient, make_user) -> None:  # type: ignore[no-untyped-def]
    other = make_user("Other")
    from gateway_graphql.api.graphql.ids import user_global_id

    query = "query ($id: ID!) { user(id: $id) { displayName email } }"
    anonymous = gql.execute(query, {"id": user_global_id(other.id)})["data"]["user"]
    assert anonymous == {"displayName": "Other", "email": None}

    email = unique_email("viewer")
    gql.execute(SIGNUP, {"input": {"email": email, "password": PASSWORD, "displayName": "V"}})
    gql.execute(LOGIN, {"input": {"email": email, "password": PASSWORD}})
    logged_in = gql.execute(query, {"id": user_global_id(other.id)})["data"]["user"]
    assert logged_in == {"displayName": "Other", "email": None}


def test_update_me_reports_user_errors(gql: GraphQLTestClient, make_user) -> None:  # type: ignore[no-untyped-def]
    other = make_user("Owner of the email")
    email = unique_email("upd")
    gql.execute(SIGNUP, {"input": {"email": email, "password": PASSWORD, "displayName": "U"}})
    gql.execute(LOGIN, {"input": {"email": email, "password": PASSWORD}})
    nothing = gql.execute(UPDATE_ME, {"input": {}})["data"]["updateMe"]
    assert nothing == {
        "user": None,
        "errors": [
            {"field": None, "message": "Name at least one field to change.", "code": "INVALID"}
        ],
    }
    # The email changes only through requestEmailChange (current password, verified address).
    by_update = gql.execute(UPDATE_ME, {"input": {"email": other.email}})
    assert by_update["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"  # no such input field
    assert "email" in by_update["errors"][0]["message"]
    long_name = gql.execute(UPDATE_ME, {"input": {"displayName": "x" * 101}})["data"]["updateMe"]
    assert long_name["errors"] == [
        {
            "field": "displayName",
            "message": "Display name must be at most 100 characters.",
            "code": "INVALID",
        }
    ]
