import { ActionDeniedError } from "./errors.ts";

const encoder = new TextEncoder();

/** Compares two strings in time that depends only on their lengths. */
function sameSecret(a: string, b: string): boolean {
  const x = encoder.encode(a), y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Allows an action only when a token is configured and the request carries it as
 * `Authorization: Bearer <token>`. A header, not a cookie, so a page of another origin
 * cannot make the browser send it.
 * @param req The request.
 * @param token The configured token, or undefined/empty for a read-only dashboard.
 * @throws {ActionDeniedError} 403 without a configured token, 401 with a wrong or no token.
 */
export function requireToken(req: Request, token: string | undefined): void {
  if (!token) throw new ActionDeniedError(true);
  const header = req.headers.get("authorization") ?? "";
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!m || !sameSecret(m[1], token)) throw new ActionDeniedError(false);
}
