// The app: routes, the nav bar, and logging out.
import "./style.css";
import { mutate } from "./api";
import { h, link } from "./dom";
import { adminPage } from "./pages/admin";
import {
  forgotPasswordPage,
  loginPage,
  resetPasswordPage,
  signupPage,
  verifyEmailPage,
} from "./pages/account";
import { homePage, passwordPage, profilePage } from "./pages/profile";
import { sessionsPage } from "./pages/sessions";
import { navigate, onNavigate, startRouter, type Page } from "./router";
import { refreshViewer, viewer } from "./viewer";

const LOGOUT = `mutation Logout { logout(input: {}) { ok } }`;

// Each page starts by asking who is logged in (the nav bar reads the same answer).
const page =
  (show: Page): Page =>
  (params) => {
    void refreshViewer();
    return show(params);
  };

const routes: Record<string, Page> = {
  "/": page(homePage),
  "/signup": page(signupPage),
  "/verify-email": page(verifyEmailPage), // the link in the verification email
  "/login": page(loginPage),
  "/forgot-password": page(forgotPasswordPage),
  "/reset-password": page(resetPasswordPage), // the link in the reset email
  "/profile": page(profilePage),
  "/password": page(passwordPage),
  "/sessions": page(sessionsPage),
  "/admin": page(adminPage),
  "*": () => h("section", {}, h("h1", {}, "Not found"), h("p", {}, link("/", "Home"))),
};

const nav = document.getElementById("nav")!;

onNavigate(async () => {
  const me = await viewer().catch(() => null); // the page itself shows the error
  if (!me) {
    nav.replaceChildren(link("/", "Home"), link("/signup", "Sign up"), link("/login", "Log in"));
    return;
  }
  const logout = h("button", { type: "button" }, "Log out");
  logout.addEventListener("click", async () => {
    await mutate(LOGOUT); // ends the session and clears the cookie
    navigate("/login");
  });
  nav.replaceChildren(
    link("/", "Home"),
    link("/profile", "Profile"),
    link("/password", "Password"),
    link("/sessions", "Sessions"),
    me.admin ? link("/admin", "Users") : "",
    logout,
  );
});

startRouter(routes, document.getElementById("app")!);
