/**
 * The dashboard's authentication: the bearer token compared in constant
 * time, session cookies signed with an HMAC key derived from the token (the
 * cookie never holds the token), CSRF tokens bound to the session, and the
 * same-origin check of state-changing requests. WebCrypto only.
 *
 * @module
 */

const encoder = new TextEncoder();

/** The name of the session cookie. */
export const SESSION_COOKIE = "openworkflow_session";

/**
 * Whether two byte strings are equal, looking at every byte whatever the
 * first difference (no early exit): the time taken says nothing about
 * where they differ. Inputs of different lengths are unequal.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const length = Math.max(a.length, b.length);
  let difference = a.length ^ b.length;
  for (let i = 0; i < length; i++) {
    difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  }
  return difference === 0;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** A session, as its signed cookie says. */
export interface Session {
  /** Random id, shown to nobody. */
  id: string;
  /** When it ends, in epoch milliseconds. */
  expiresAtMs: number;
}

/**
 * The keys of one dashboard: made from its token, once. Every comparison
 * with a secret goes through {@linkcode constantTimeEqual} on HMAC digests
 * of equal length.
 */
export class Authenticator {
  readonly #key: Promise<CryptoKey>;
  readonly #tokenDigest: Promise<Uint8Array>;
  readonly #sessionTtlMs: number;
  /** Sessions signed out before they expired: id → expiry. */
  readonly #revoked = new Map<string, number>();

  constructor(token: string, sessionTtlMs: number) {
    this.#key = crypto.subtle.importKey(
      "raw",
      encoder.encode(`openworkflow-dashboard\u0000${token}`),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    this.#tokenDigest = this.#mac(`token\u0000${token}`);
    this.#sessionTtlMs = sessionTtlMs;
  }

  async #mac(message: string): Promise<Uint8Array> {
    const signature = await crypto.subtle.sign(
      "HMAC",
      await this.#key,
      encoder.encode(message),
    );
    return new Uint8Array(signature);
  }

  /** Whether `candidate` is the token, in constant time. */
  async checkToken(candidate: string): Promise<boolean> {
    const [given, expected] = await Promise.all([
      this.#mac(`token\u0000${candidate}`),
      this.#tokenDigest,
    ]);
    return constantTimeEqual(given, expected);
  }

  /** How long a session lasts, in milliseconds. */
  get sessionTtlMs(): number {
    return this.#sessionTtlMs;
  }

  /** A new session and its cookie value: `id.expiry.signature`. */
  async createSession(nowMs: number): Promise<string> {
    const id = base64url(crypto.getRandomValues(new Uint8Array(18)));
    const expiresAtMs = nowMs + this.#sessionTtlMs;
    const signature = await this.#mac(`session\u0000${id}\u0000${expiresAtMs}`);
    return `${id}.${expiresAtMs}.${base64url(signature)}`;
  }

  /** The session a cookie value names, if it is signed, live and not revoked. */
  async verifySession(value: string, nowMs: number): Promise<Session | null> {
    const parts = value.split(".");
    if (parts.length !== 3 || parts[0].length > 64 || parts[2].length > 64) {
      return null;
    }
    const [id, expiry, signature] = parts;
    if (!/^\d{1,16}$/.test(expiry)) return null;
    const expected = base64url(
      await this.#mac(`session\u0000${id}\u0000${expiry}`),
    );
    if (
      !constantTimeEqual(encoder.encode(signature), encoder.encode(expected))
    ) {
      return null;
    }
    const expiresAtMs = Number(expiry);
    if (expiresAtMs <= nowMs || this.#revoked.has(id)) return null;
    return { id, expiresAtMs };
  }

  /** Ends a session before it expires (this process only). */
  revoke(session: Session, nowMs: number): void {
    for (const [id, expiresAtMs] of this.#revoked) {
      if (expiresAtMs <= nowMs) this.#revoked.delete(id);
    }
    this.#revoked.set(session.id, session.expiresAtMs);
  }

  /** The CSRF token of a session: an HMAC of its id. */
  async csrfToken(session: Session): Promise<string> {
    return base64url(await this.#mac(`csrf\u0000${session.id}`));
  }

  /** Whether `candidate` is the session's CSRF token, in constant time. */
  async checkCsrf(session: Session, candidate: string): Promise<boolean> {
    const expected = await this.csrfToken(session);
    return constantTimeEqual(
      encoder.encode(candidate),
      encoder.encode(expected),
    );
  }
}

/** The value of cookie `name` in a `Cookie` header, or `null`. */
export function readCookie(request: Request, name: string): string | null {
  const header = request.headers.get("cookie");
  if (header === null) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      return part.slice(eq + 1).trim();
    }
  }
  return null;
}

/** The token of an `Authorization: Bearer` header, or `null`. */
export function bearerToken(request: Request): string | null {
  const header = request.headers.get("authorization");
  if (header === null) return null;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match === null ? null : match[1];
}

/** Whether the request came over HTTPS (or a proxy says it did). */
export function isHttps(request: Request): boolean {
  return new URL(request.url).protocol === "https:" ||
    request.headers.get("x-forwarded-proto")?.split(",")[0].trim() === "https";
}

/** A `Set-Cookie` value for the session cookie (empty `value` clears it). */
export function sessionCookie(
  value: string,
  options: { path: string; secure: boolean; maxAgeS: number },
): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    `Path=${options.path}`,
    `Max-Age=${options.maxAgeS}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(options.secure ? ["Secure"] : []),
  ].join("; ");
}

/**
 * Whether a state-changing request comes from a page of this dashboard:
 * its `Origin` (or, without one, its `Referer`'s origin) is the request's
 * own origin or one of `allowedOrigins`, and `Sec-Fetch-Site`, when sent,
 * does not say `cross-site`. With `Origin: null` (what browsers send under
 * the pages' `no-referrer` policy) and no `Referer`, `Sec-Fetch-Site:
 * same-origin` decides. A request with none of them is refused.
 */
export function isSameOrigin(
  request: Request,
  allowedOrigins: readonly string[],
): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") return false;
  let origin = request.headers.get("origin");
  if (origin === null || origin === "null") {
    // The pages' `no-referrer` policy makes browsers send `Origin: null`
    // and no `Referer` with their own forms' POSTs; `Sec-Fetch-Site`
    // (which no script can set) still says where such a POST came from.
    if (site === "same-origin") return true;
    const referer = request.headers.get("referer");
    if (referer === null) return false;
    try {
      origin = new URL(referer).origin;
    } catch {
      return false;
    }
  }
  return origin === new URL(request.url).origin ||
    allowedOrigins.includes(origin);
}
