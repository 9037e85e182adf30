// Who is logged in: asked once per page (the session cookie is HttpOnly, so only the server
// knows), shared by the page and the nav bar.
import { query } from "./api";

export interface Viewer {
  id: string;
  email: string;
  displayName: string;
  emailVerified: boolean;
  admin: boolean;
}

const ME = `query Me { me { id email displayName emailVerified admin } }`;

let current: Promise<Viewer | null> = Promise.resolve(null);

/** Ask the server again (at each navigation). */
export function refreshViewer(): Promise<Viewer | null> {
  current = query<{ me: Viewer | null }>(ME).then((data) => data.me);
  current.catch(() => {}); // whoever awaits it handles the error; no "unhandled rejection"
  return current;
}

/** The answer of the last refresh. */
export function viewer(): Promise<Viewer | null> {
  return current;
}
