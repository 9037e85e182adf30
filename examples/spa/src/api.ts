// The GraphQL client: stock urql, the session in the gateway's HttpOnly cookie.
//
// - `credentials: "include"` sends the cookie, also when the gateway is on another origin (dev).
// - No CSRF header: every request is a JSON POST, which a browser sends across origins only
//   after a CORS preflight, and the gateway refuses the form-like bodies a hostile page could send.
// - The page never sees the session token: `login` sets the cookie (tokenDelivery COOKIE).
import { Client, CombinedError, fetchExchange } from "@urql/core";

export const GRAPHQL_URL: string = import.meta.env.VITE_GRAPHQL_URL || "/graphql";

export const client = new Client({
  url: GRAPHQL_URL,
  exchanges: [fetchExchange], // no cache: each page shows what the server says now
  requestPolicy: "network-only",
  preferGetMethod: false,
  fetchOptions: { credentials: "include" },
});

/** An input problem a mutation reports in its payload, shown next to its form field. */
export interface UserError {
  field: string | null;
  message: string;
  code: string;
}

/** A GraphQL error (not an input problem): its `extensions.code`, e.g. UNAUTHENTICATED. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

function unwrap<T>(data: T | undefined, error: CombinedError | undefined): T {
  if (error) {
    const first = error.graphQLErrors[0];
    const code = first?.extensions?.code;
    throw new ApiError(first?.message ?? error.message, typeof code === "string" ? code : undefined);
  }
  if (data === undefined) throw new ApiError("No answer from the server.", undefined);
  return data;
}

export async function query<T>(document: string, variables: object = {}): Promise<T> {
  const result = await client.query<T>(document, variables).toPromise();
  return unwrap(result.data, result.error);
}

export async function mutate<T>(document: string, variables: object = {}): Promise<T> {
  const result = await client.mutation<T>(document, variables).toPromise();
  return unwrap(result.data, result.error);
}
