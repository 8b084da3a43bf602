// The account: sign in or register in a dialog, sign out, the session kept across reloads (the
// token in localStorage) and ended when the server no longer takes the token, and the
// "API token" button that copies the Authorization header for GraphiQL.

import { call, socket } from "../api.js";
import { request } from "../graphql.js";
import * as Q from "../queries.js";
import { state, subscribe, update } from "../store.js";
import { $, toast } from "../ui.js";

export function openAuth() {
  $("auth-error").textContent = "";
  $("auth-dialog").showModal();
  $("auth-email").focus();
}

function showAccount(user) {
  $("account-email").textContent = user?.email || "";
  $("sign-in").hidden = Boolean(user);
  $("sign-out").hidden = !user;
  $("copy-token").hidden = !user;
}

function setSession(token, user) {
  state.token = token;
  if (token) localStorage.setItem("trado.token", token);
  else localStorage.removeItem("trado.token");
  socket.setToken(token);
  showAccount(user);
  update("user", user);
}

function signOut() {
  setSession(null, null);
}

async function submit(event) {
  event.preventDefault();
  const mode = event.submitter?.value === "register" ? "register" : "login";
  const variables = { email: $("auth-email").value.trim(), password: $("auth-password").value };
  try {
    const data = await request(mode === "register" ? Q.REGISTER : Q.LOGIN, variables);
    const auth = Q.readAuth(data[mode]);
    if (auth.error) {
      $("auth-error").textContent = auth.error;
      return;
    }
    $("auth-dialog").close();
    $("auth-password").value = "";
    setSession(auth.token, auth.user);
    toast(mode === "register" ? `Welcome, ${auth.user.email}` : `Signed in as ${auth.user.email}`, "ok");
  } catch (error) {
    $("auth-error").textContent = error.message;
  }
}

async function copyToken() {
  // GraphiQL (at /graphql) takes the same token in its Headers tab
  const headers = JSON.stringify({ Authorization: `Bearer ${state.token}` });
  try {
    await navigator.clipboard.writeText(headers);
    toast("Copied: paste it into GraphiQL's Headers tab", "ok");
  } catch {
    toast(headers);
  }
}

export function mountAccount() {
  $("sign-in").addEventListener("click", openAuth);
  $("auth-cancel").addEventListener("click", () => $("auth-dialog").close());
  $("sign-out").addEventListener("click", signOut);
  $("copy-token").addEventListener("click", copyToken);
  $("auth-form").addEventListener("submit", submit);
  subscribe("sessionExpired", () => {
    signOut();
    toast("Your session ended: sign in again.", "bad");
  });
}

/** A token kept from an earlier visit signs the page in again while the server takes it. */
export async function restoreSession() {
  if (!state.token) return;
  try {
    const me = (await call(Q.ME)).me;
    if (me) {
      setSession(state.token, me);
      return;
    }
  } catch {
    // an expired token: continue signed out
  }
  signOut();
}
