// The board's line to the server: `call` for queries and mutations with the session's token,
// and `socket`, the one subscription socket every live panel shares.

import { GraphQLError, SubscriptionClient, request } from "./graphql.js";
import { notify, state } from "./store.js";

export const socket = new SubscriptionClient({
  token: state.token,
  onState: (connection, retryAt) => {
    state.connectionLog.push(connection);
    notify("connection", { connection, retryAt });
  },
});

/** `request` with the token; a token the server no longer takes ends the session. */
export async function call(query, variables) {
  const token = state.token;
  try {
    return await request(query, variables, token);
  } catch (error) {
    if (token && token === state.token && error instanceof GraphQLError && error.unauthenticated) {
      notify("sessionExpired");
    }
    throw error;
  }
}
