/**
 * The board's token: when set, every request (pages, JSON, the SSE streams) must carry it, as the header
 * `Authorization: Bearer <token>`, the cookie the login page sets, or `?token=` (EventSource cannot send headers).
 */
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

export const TOKEN_COOKIE = 'lmforge_webui_token';

/** Addresses only this machine can reach: the board may run there without a token. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A constant-time comparison, so the token cannot be guessed one character at a time from response times. */
export function tokenMatches(given: string | undefined | null, token: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/** Refuses (401) any request without the token; a page request with a good `?token=` also gets the cookie. */
export function requireToken(token: string | null): MiddlewareHandler {
  return async (c, next) => {
    if (token === null) return next();
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const query = c.req.query('token');
    const cookie = cookieValue(c.req.header('cookie'), TOKEN_COOKIE);
    if (!tokenMatches(bearer, token) && !tokenMatches(query, token) && !tokenMatches(cookie, token)) {
      return c.json({ error: 'this board needs its token: open it as http://host:port/?token=<token>' }, 401);
    }
    await next();
    if (tokenMatches(query, token)) {
      c.res.headers.append(
        'set-cookie',
        `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
      );
    }
  };
}
