// The administrators' page: every user, with their email, and a switch to deactivate them.
import { ApiError, mutate, query } from "../api";
import { h } from "../dom";
import { loggedIn } from "./profile";
import { action } from "./sessions";

interface AdminUser {
  id: string;
  email: string | null;
  displayName: string;
  emailVerified: boolean;
  isActive: boolean;
}

const USERS = `query AdminUsers {
  users(first: 100) { edges { node { id email displayName emailVerified isActive } } }
}`;
const DEACTIVATE = `mutation DeactivateUser($input: DeactivateUserInput!) {
  deactivateUser(input: $input) { clientMutationId }
}`;
const REACTIVATE = `mutation ReactivateUser($input: ReactivateUserInput!) {
  reactivateUser(input: $input) { clientMutationId }
}`;

export function adminPage(): Promise<Node> {
  return loggedIn(async (me) => {
    let users: AdminUser[];
    try {
      const data = await query<{ users: { edges: Array<{ node: AdminUser }> } }>(USERS);
      users = data.users.edges.map((edge) => edge.node);
    } catch (error) {
      const forbidden = error instanceof ApiError && error.code === "FORBIDDEN";
      const text = forbidden ? "Only administrators see this page." : String(error);
      return h("section", {}, h("h1", {}, "Users"), h("p", { role: "alert" }, text));
    }
    const rows = users.map((user) => {
      const toggle =
        user.id === me.id // the server refuses it too
          ? ""
          : action(
              user.isActive ? "Deactivate" : "Reactivate",
              () => mutate(user.isActive ? DEACTIVATE : REACTIVATE, { input: { id: user.id } }),
              "/admin",
            );
      return h(
        "tr",
        { "data-user": user.email ?? user.id },
        h("td", {}, user.displayName),
        h("td", {}, user.email ?? ""),
        h("td", {}, user.emailVerified ? "yes" : "no"),
        h("td", {}, user.isActive ? "active" : "deactivated"),
        h("td", {}, toggle),
      );
    });
    return h(
      "section",
      {},
      h("h1", {}, "Users"),
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h("tr", {}, ...["Name", "Email", "Verified", "Status", ""].map((t) => h("th", {}, t))),
        ),
        h("tbody", {}, ...rows),
      ),
    );
  });
}
