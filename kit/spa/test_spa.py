"""Every page of the example SPA, driven in Chromium against the real stack, once on the API's
origin and once from Vite's dev server on another origin (the ``origin`` fixture).

Waiting is Playwright's: each ``expect`` retries until the page shows what it asserts.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable

from conftest import Device, SpaStack
from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery 1"  # pragma: allowlist secret
NEW_PASSWORD = "another long password 2"  # pragma: allowlist secret
RESET_PASSWORD = "a reset password here 3"  # pragma: allowlist secret

NewDevice = Callable[[str], Device]


def address(kind: str) -> str:
    return f"spa-{kind}-{uuid.uuid4().hex[:8]}@example.com"


def log_in(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def sign_up_and_verify(device: Device, spa: SpaStack, email: str, name: str) -> None:
    page = device.open("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("status")).to_contain_text("Check your inbox")
    device.shot("1-signed-up")

    device.open(spa.link(email, "/verify-email", set()))
    expect(page.get_by_role("heading", name="Email verified")).to_be_visible()
    device.shot("2-email-verified")


def test_sign_up_verify_log_in_profile_password_log_out(
    devices: NewDevice, spa_stack: SpaStack
) -> None:
    email = address("account")
    laptop = devices("laptop")
    sign_up_and_verify(laptop, spa_stack, email, "Ada")
    page = laptop.page

    page.get_by_role("link", name="Log in").first.click()
    log_in(page, email, PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    expect(page.get_by_text(f"Logged in as {email} (verified)")).to_be_visible()

    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_label("Display name")).to_have_value("Ada")
    page.get_by_label("Display name").fill("Ada Lovelace")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_have_text("Saved.")
    laptop.shot("3-profile")
    page.get_by_role("link", name="Home").click()
    expect(page.get_by_role("heading", name="Hello, Ada Lovelace")).to_be_visible()

    # A new email address takes effect once its own link is followed.
    new_email = address("moved")
    page.get_by_role("link", name="Profile").click()
    page.get_by_label("New email").fill(new_email)
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Change email").click()
    expect(page.get_by_role("status").last).to_contain_text(f"We sent a link to {new_email}")
    laptop.open(spa_stack.link(new_email, "/verify-email", set()))
    expect(page.get_by_role("heading", name="Email verified")).to_be_visible()
    laptop.open("/")
    expect(page.get_by_text(f"Logged in as {new_email} (verified)")).to_be_visible()
    email = new_email

    # A wrong current password is an input problem shown by its field.
    page.get_by_role("link", name="Password").click()
    page.get_by_label("Current password").fill("not the password at all")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#field-currentPassword-error")).not_to_be_empty()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Change password").click()
    # Every session ended, this one too: the app says so and asks to log in again.
    expect(page.get_by_text("Your password was changed")).to_be_visible()
    laptop.shot("4-password-changed")
    log_in(page, email, NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Ada Lovelace")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    laptop.open("/")
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()


def test_sessions_and_devices(devices: NewDevice, spa_stack: SpaStack) -> None:
    email = address("sessions")
    laptop, phone, tablet = devices("laptop"), devices("phone"), devices("tablet")
    sign_up_and_verify(laptop, spa_stack, email, "Grace")
    for device in (laptop, phone, tablet):
        log_in(device.open("/login"), email, PASSWORD)
        expect(device.page.get_by_role("heading", name="Hello, Grace")).to_be_visible()

    page = laptop.open("/sessions")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("tbody tr", has_text="(this device)")).to_contain_text("laptop")
    laptop.shot("5-sessions")

    # Revoke the phone's session: the phone is logged out, the others are not.
    page.locator("tbody tr", has_text="SPA test (phone)").get_by_role(
        "button", name="Revoke"
    ).click()
    expect(rows).to_have_count(2)
    phone.open("/")
    expect(phone.page.get_by_role("heading", name="Welcome")).to_be_visible()
    tablet.open("/")
    expect(tablet.page.get_by_role("heading", name="Hello, Grace")).to_be_visible()

    page.get_by_role("button", name="Log out every other device").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("(this device)")
    tablet.open("/")
    expect(tablet.page.get_by_role("heading", name="Welcome")).to_be_visible()


def test_forgotten_password_and_reset(devices: NewDevice, spa_stack: SpaStack) -> None:
    email = address("reset")
    laptop = devices("laptop")
    sign_up_and_verify(laptop, spa_stack, email, "Barbara")
    seen: set[str] = set()

    page = laptop.open("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("status")).to_contain_text(f"If an account uses {email}")
    laptop.shot("6-forgot-password")

    link = spa_stack.link(email, "/reset-password", seen)
    page = laptop.open(link)
    page.get_by_label("New password").fill(RESET_PASSWORD)
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_text("Your new password is set")).to_be_visible()
    log_in(page, email, RESET_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Barbara")).to_be_visible()

    # The link works once.
    page = laptop.open(link)
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("alert").first).not_to_be_empty()


def grant_admin(spa_stack: SpaStack, email: str) -> None:
    """What an operator runs: `user-service grant-admin EMAIL`, with the stack's settings."""
    env = spa_stack.stack.environ_of("grpc")
    result = subprocess.run(
        ["user-service", "grant-admin", email], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_admin_deactivates_and_reactivates_a_user(devices: NewDevice, spa_stack: SpaStack) -> None:
    admin_email, user_email = address("admin"), address("member")
    admin, member = devices("admin"), devices("member")
    sign_up_and_verify(admin, spa_stack, admin_email, "Admin")
    sign_up_and_verify(member, spa_stack, user_email, "Member")

    # A user who is not an administrator sees no user list.
    log_in(member.open("/login"), user_email, PASSWORD)
    expect(member.page.get_by_role("heading", name="Hello, Member")).to_be_visible()
    expect(member.page.get_by_role("link", name="Users")).to_have_count(0)
    member.open("/admin")
    expect(member.page.get_by_role("alert")).to_have_text("Only administrators see this page.")

    grant_admin(spa_stack, admin_email)
    page = admin.open("/login")
    log_in(page, admin_email, PASSWORD)
    page.get_by_role("link", name="Users").click()
    row = page.locator(f'tr[data-user="{user_email}"]')
    expect(row).to_contain_text("Member")  # with the email: administrators see it
    expect(page.locator(f'tr[data-user="{admin_email}"]')).to_contain_text("(admin)")
    row.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("status")).to_have_text("Member is deactivated.")
    admin.shot("7-admin-users")

    # Deactivated: the member's session ended and logging in fails.
    member.open("/")
    expect(member.page.get_by_role("heading", name="Welcome")).to_be_visible()
    log_in(member.open("/login"), user_email, PASSWORD)
    # the same answer as a wrong password: the page learns nothing about the account
    expect(member.page.get_by_role("alert").first).to_have_text("Invalid email or password.")

    row.get_by_role("button", name="Reactivate").click()
    expect(page.get_by_role("status")).to_have_text("Member can log in again.")
    log_in(member.open("/login"), user_email, PASSWORD)
    expect(member.page.get_by_role("heading", name="Hello, Member")).to_be_visible()
