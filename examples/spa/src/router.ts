// A tiny history router: paths are real URLs, so the emailed links (/verify-email?token=...,
// /reset-password?token=...) open the right page. The server answers every unknown path with
// index.html (Vite's dev server does; nginx and the local proxy are configured to).
import { h, messageOf } from "./dom";

/** A page: its content for the current query string. */
export type Page = (params: URLSearchParams) => Promise<Node> | Node;

const listeners: Array<() => void> = [];
let routes: Record<string, Page> = {};
let outlet: HTMLElement;

export function startRouter(table: Record<string, Page>, into: HTMLElement): void {
  routes = table;
  outlet = into;
  window.addEventListener("popstate", () => void render());
  document.addEventListener("click", (event) => {
    const anchor = (event.target as Element).closest("a[data-link]");
    if (anchor instanceof HTMLAnchorElement && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      navigate(anchor.pathname + anchor.search);
    }
  });
  void render();
}

export function navigate(path: string): void {
  history.pushState(null, "", path);
  void render();
}

/** Called after each page is shown (the nav bar redraws itself). */
export function onNavigate(listener: () => void): void {
  listeners.push(listener);
}

async function render(): Promise<void> {
  const page = routes[location.pathname] ?? routes["*"];
  let content: Node;
  try {
    content = await page(new URLSearchParams(location.search));
  } catch (error) {
    // The API is down or refused the request: say so instead of a blank page.
    content = h(
      "section",
      {},
      h("h1", {}, "Something went wrong"),
      h("p", { role: "alert" }, messageOf(error)),
    );
  }
  outlet.replaceChildren(content);
  outlet.querySelector<HTMLElement>("input, button")?.focus();
  for (const listener of listeners) listener();
}
