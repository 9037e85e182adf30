// The administrators' page: every user, with their email, and a switch to deactivate them.
import { mutate, query, type UserError } from "../api";
import { h, messageOf } from "../dom";
import { loggedIn } from "./profile";

interface AdminUser {
  id: string;
  email: string | null;
  displayName: string;
  emailVerified: boolean | null;
  admin: boolean | null;
}

const USERS = `query AdminUsers {
  users(first: 100) { edges { node { id email displayName emailVerified admin } } }
}`;
const DEACTIVATE = `mutation DeactivateUser($input: DeactivateUserInput!) {
  deactivateUser(input: $input) { errors { field message code } }
}`;
const REACTIVATE = `mutation ReactivateUser($input: ReactivateUserInput!) {
  reactivateUser(input: $input) { errors { field message code } }
}`;

type Change = { errors: UserError[] };

export function adminPage(): Promise<Node> {
  return loggedIn(async (me) => {
    // The server decides (FORBIDDEN, emails hidden); the page only avoids a useless request.
    if (!me.admin) {
      const text = "Only administrators see this page.";
      return h("section", {}, h("h1", {}, "Users"), h("p", { role: "alert" }, text));
    }
    const data = await query<{ users: { edges: Array<{ node: AdminUser }> } }>(USERS);
    const users = data.users.edges.map((edge) => edge.node);
    const status = h("p", { class: "notice", role: "status" });

    function change(label: string, document: string, user: AdminUser, done: string): Node {
      const button = h("button", { type: "button" }, label);
      button.addEventListener("click", async () => {
        const field = document === DEACTIVATE ? "deactivateUser" : "reactivateUser";
        try {
          const data = await mutate<Record<string, Change>>(document, { input: { id: user.id } });
          const problem = data[field].errors[0];
          status.textContent = problem ? problem.message : `${user.displayName} ${done}.`;
        } catch (error) {
          status.textContent = messageOf(error);
        }
      });
      return button;
    }

    const rows = users.map((user) =>
      h(
        "tr",
        { "data-user": user.email ?? user.id },
        h("td", {}, user.displayName, user.admin ? " (admin)" : ""),
        h("td", {}, user.email ?? ""),
        h("td", {}, user.emailVerified ? "verified" : "not verified"),
        h(
          "td",
          {},
          // Administrators cannot deactivate themselves (the server refuses it too).
          user.id === me.id ? "" : change("Deactivate", DEACTIVATE, user, "is deactivated"),
          user.id === me.id ? "" : change("Reactivate", REACTIVATE, user, "can log in again"),
        ),
      ),
    );
    const headings = ["Name", "Email", "Email address", ""];
    return h(
      "section",
      {},
      h("h1", {}, "Users"),
      status,
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ...headings.map((text) => h("th", {}, text)))),
        h("tbody", {}, ...rows),
      ),
    );
  });
}
