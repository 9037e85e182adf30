// The logged-in user's own pages: home, profile, password.
import { mutate, type UserError } from "../api";
import { h, link } from "../dom";
import { form } from "../forms";
import { navigate } from "../router";
import { viewer, type Viewer } from "../viewer";

const UPDATE_ME = `mutation UpdateMe($input: UpdateMeInput!) {
  updateMe(input: $input) { user { displayName } errors { field message code } }
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
  return loggedIn((me) =>
    form(
      "Profile",
      [{ name: "displayName", label: "Display name", value: me.displayName }],
      "Save",
      async (input) => {
        const { updateMe } = await mutate<{ updateMe: { errors: UserError[] } }>(UPDATE_ME, {
          input,
        });
        return { errors: updateMe.errors, notice: "Saved." };
      },
    ),
  );
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
        const { changePassword } = await mutate<{ changePassword: { errors: UserError[] } }>(
          CHANGE_PASSWORD,
          { input },
        );
        if (changePassword.errors.length) return { errors: changePassword.errors };
        // Every session ended, this one too: the server cleared the cookie.
        navigate("/login?after=password-changed");
      },
    ),
  );
}
