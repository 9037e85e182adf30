// Sessions and devices: where the viewer is logged in, with a way to end each session.
import { mutate, query } from "../api";
import { h, messageOf } from "../dom";
import { navigate } from "../router";
import { loggedIn } from "./profile";

interface Session {
  id: string;
  userAgent: string;
  address: string;
  createdAt: string;
  lastSeenAt: string;
  current: boolean;
}

const SESSIONS = `query Sessions {
  sessions { id userAgent address createdAt lastSeenAt current }
}`;
const REVOKE_SESSION = `mutation RevokeSession($input: RevokeSessionInput!) {
  revokeSession(input: $input) { clientMutationId }
}`;
const REVOKE_OTHER_SESSIONS = `mutation RevokeOtherSessions {
  revokeOtherSessions(input: {}) { clientMutationId }
}`;

const when = (iso: string) => new Date(iso).toLocaleString();

/** A button that runs a mutation, then shows page ``then`` (or the error next to it). */
export function action(label: string, run: () => Promise<unknown>, then: string): HTMLElement {
  const button = h("button", { type: "button" }, label);
  const problem = h("span", { class: "error", role: "alert" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await run();
      navigate(then);
    } catch (error) {
      problem.textContent = messageOf(error);
      button.disabled = false;
    }
  });
  return h("span", {}, button, problem);
}

export function sessionsPage(): Promise<Node> {
  return loggedIn(async () => {
    const { sessions } = await query<{ sessions: Session[] }>(SESSIONS);
    const rows = sessions.map((session) =>
      h(
        "tr",
        { "data-session": session.id },
        h("td", {}, session.userAgent || "unknown device", session.current ? " (this device)" : ""),
        h("td", {}, session.address || "-"),
        h("td", {}, when(session.createdAt)),
        h("td", {}, when(session.lastSeenAt)),
        h(
          "td",
          {},
          // Ending this device's own session logs it out.
          action(
            "Revoke",
            () => mutate(REVOKE_SESSION, { input: { id: session.id } }),
            session.current ? "/login" : "/sessions",
          ),
        ),
      ),
    );
    const headings = ["Device", "Address", "Logged in", "Last seen", ""];
    return h(
      "section",
      {},
      h("h1", {}, "Sessions and devices"),
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ...headings.map((text) => h("th", {}, text)))),
        h("tbody", {}, ...rows),
      ),
      action("Log out every other device", () => mutate(REVOKE_OTHER_SESSIONS), "/sessions"),
    );
  });
}
