// The JSON API of the Switchboard server: the session cookie authenticates every
// call, so the page never holds a password or a token.

/** An answer other than 2xx: message is the server's error text. */
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * api sends one request and gives back the decoded JSON (null for 204).
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 */
export async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new APIError(0, "the server cannot be reached");
  }
  let data = null;
  if (res.status !== 204) {
    data = await res.json().catch(() => null);
  }
  if (!res.ok) {
    throw new APIError(res.status, (data && data.error) || res.statusText || `HTTP ${res.status}`);
  }
  return data;
}

/** enc escapes one path segment. */
export const enc = encodeURIComponent;
