// The pages of someone logged out: sign up, verify the email, log in, forgotten password, reset.
import { mutate, type UserError } from "../api";
import { h, link, messageOf } from "../dom";
import { form } from "../forms";
import { navigate } from "../router";

interface Payload {
  errors: UserError[];
}

const SIGNUP = `mutation Signup($input: SignupInput!) {
  signup(input: $input) { errors { field message code } }
}`;
const VERIFY_EMAIL = `mutation VerifyEmail($input: VerifyEmailInput!) {
  verifyEmail(input: $input) { errors { field message code } }
}`;
const LOGIN = `mutation Login($input: LoginInput!) {
  login(input: $input) { errors { field message code } }
}`;
const REQUEST_PASSWORD_RESET = `mutation RequestPasswordReset($input: RequestPasswordResetInput!) {
  requestPasswordReset(input: $input) { errors { field message code } }
}`;
const RESET_PASSWORD = `mutation ResetPassword($input: ResetPasswordInput!) {
  resetPassword(input: $input) { errors { field message code } }
}`;

// Messages the login page shows when another page sends the user there.
const LOGIN_NOTICES: Record<string, string> = {
  "password-changed": "Your password was changed and every session ended: log in again.",
  "password-reset": "Your new password is set: log in with it.",
  "email-verified": "Your email address is verified: log in.",
};

export function signupPage(): Node {
  return form(
    "Sign up",
    [
      { name: "email", label: "Email", type: "email", autocomplete: "email" },
      { name: "displayName", label: "Display name", autocomplete: "nickname" },
      { name: "password", label: "Password", type: "password", autocomplete: "new-password" },
    ],
    "Sign up",
    async (input) => {
      const { signup } = await mutate<{ signup: Payload }>(SIGNUP, { input });
      // The same answer whether or not the address has an account: the inbox tells which.
      return {
        errors: signup.errors,
        notice: `Check your inbox: we sent a link to ${input.email} to verify the address.`,
      };
    },
  );
}

export async function verifyEmailPage(params: URLSearchParams): Promise<Node> {
  const token = params.get("token") ?? "";
  try {
    const { verifyEmail } = await mutate<{ verifyEmail: Payload }>(VERIFY_EMAIL, {
      input: { token },
    });
    if (verifyEmail.errors.length) {
      return h(
        "section",
        {},
        h("h1", {}, "This link does not work"),
        h("p", { role: "alert" }, verifyEmail.errors[0].message),
      );
    }
  } catch (error) {
    return h("section", {}, h("h1", {}, "Verify email"), h("p", { role: "alert" }, messageOf(error)));
  }
  return h(
    "section",
    {},
    h("h1", {}, "Email verified"),
    h("p", { role: "status" }, "Your email address is verified. ", link("/login", "Log in")),
  );
}

export function loginPage(params: URLSearchParams): Node {
  const notice = LOGIN_NOTICES[params.get("after") ?? ""];
  const login = form(
    "Log in",
    [
      { name: "email", label: "Email", type: "email", autocomplete: "username" },
      { name: "password", label: "Password", type: "password", autocomplete: "current-password" },
    ],
    "Log in",
    async (input) => {
      // tokenDelivery stays COOKIE (the default): the token goes into the HttpOnly cookie only.
      const { login } = await mutate<{ login: Payload }>(LOGIN, { input });
      if (login.errors.length) return { errors: login.errors };
      navigate("/");
    },
  );
  return h(
    "section",
    {},
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    login,
    h("p", {}, link("/forgot-password", "Forgot your password?")),
  );
}

export function forgotPasswordPage(): Node {
  return form(
    "Forgot your password?",
    [{ name: "email", label: "Email", type: "email", autocomplete: "email" }],
    "Email me a link",
    async (input) => {
      const { requestPasswordReset } = await mutate<{ requestPasswordReset: Payload }>(
        REQUEST_PASSWORD_RESET,
        { input },
      );
      return {
        errors: requestPasswordReset.errors,
        notice: `If an account uses ${input.email}, we sent it a link to choose a new password.`,
      };
    },
  );
}

export function resetPasswordPage(params: URLSearchParams): Node {
  const token = params.get("token") ?? "";
  return form(
    "Choose a new password",
    [{ name: "newPassword", label: "New password", type: "password", autocomplete: "new-password" }],
    "Set the password",
    async ({ newPassword }) => {
      const { resetPassword } = await mutate<{ resetPassword: Payload }>(RESET_PASSWORD, {
        input: { token, newPassword },
      });
      if (resetPassword.errors.length) return { errors: resetPassword.errors };
      navigate("/login?after=password-reset");
    },
  );
}
