// The logged-in user's own pages: home, profile, password.
import { mutate, type UserError } from "../api";
import { h, link } from "../dom";
import { form } from "../forms";
import { navigate } from "../router";
import { viewer, type Viewer } from "../viewer";

type Payload = { errors: UserError[] };

const UPDATE_ME = `mutation UpdateMe($input: UpdateMeInput!) {
  updateMe(input: $input) { user { displayName } errors { field message code } }
}`;
const REQUEST_EMAIL_CHANGE = `mutation RequestEmailChange($input: RequestEmailChangeInput!) {
  requestEmailChange(input: $input) { errors { field message code } }
}`;
const CHANGE_PASSWORD = `mutation ChangePassword($input: ChangePasswordInput!) {
  changePassword(input: $input) { ok errors { field message code } }
}`;

/** The page for a logged-in user, or a prompt to log in. */
export async function loggedIn(page: (me: Viewer) => Node | Promise<Node>): Promise<Node> {
  const me = await viewer();
  if (me) return page(me);
  return h("section", {}, h("h1", {}, "Log in first"), h("p", {}, link("/login", "Log in")));
}

export async function homePage(): Promise<Node> {
  const me = await viewer();
  if (!me) {
    return h(
      "section",
      {},
      h("h1", {}, "Welcome"),
      h("p", {}, link("/login", "Log in"), " or ", link("/signup", "sign up"), "."),
    );
  }
  return h(
    "section",
    {},
    h("h1", {}, `Hello, ${me.displayName}`),
    h("p", {}, `Logged in as ${me.email}`, me.emailVerified ? " (verified)" : " (not verified yet)"),
  );
}

export function profilePage(): Promise<Node> {
  return loggedIn((me) => {
    const profile = form(
      "Profile",
      [{ name: "displayName", label: "Display name", value: me.displayName }],
      "Save",
      async (input) => {
        const { updateMe } = await mutate<{ updateMe: Payload }>(UPDATE_ME, { input });
        return { errors: updateMe.errors, notice: "Saved." };
      },
    );
    const email = form(
      "Email address",
      [
        { name: "newEmail", label: "New email", type: "email", autocomplete: "email" },
        {
          name: "currentPassword",
          label: "Current password",
          type: "password",
          autocomplete: "current-password",
        },
      ],
      "Change email",
      async (input) => {
        const { requestEmailChange } = await mutate<{ requestEmailChange: Payload }>(
          REQUEST_EMAIL_CHANGE,
          { input },
        );
        // Nothing changes until the new address proves it is the user's (the emailed link).
        const notice = `We sent a link to ${input.newEmail}: your email changes when you follow it.`;
        return { errors: requestEmailChange.errors, notice };
      },
    );
    return h("div", {}, profile, h("p", {}, `Your email: ${me.email}`), email);
  });
}

export function passwordPage(): Promise<Node> {
  return loggedIn(() =>
    form(
      "Change password",
      [
        {
          name: "currentPassword",
          label: "Current password",
          type: "password",
          autocomplete: "current-password",
        },
        {
          name: "newPassword",
          label: "New password",
          type: "password",
          autocomplete: "new-password",
        },
      ],
      "Change password",
      async (input) => {
        const { changePassword } = await mutate<{ changePassword: Payload }>(CHANGE_PASSWORD, {
          input,
        });
        if (changePassword.errors.length) return { errors: changePassword.errors };
        // Every session ended, this one too: the server cleared the cookie.
        navigate("/login?after=password-changed");
      },
    ),
  );
}
