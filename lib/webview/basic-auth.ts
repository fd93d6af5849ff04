import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError } from '../core/errors.js';
import { problemReply, type ApiReply } from './api.js';
import { LoginThrottle } from './login-throttle.js';

/** The login the dashboard asks for (HTTP Basic authentication). */
export interface WebViewAuth {
  user: string;
  password: string;
  /** Failed logins in a row from one client (an IPv4 address, or an IPv6 /64) before it must wait (429); default 5. */
  maxFailures?: number;
  /** How long that client then waits, in milliseconds; default 60000. */
  lockoutMs?: number;
}

/** A request's login refused: the reply, with the headers that go with it. */
export interface LoginRefusal {
  reply: ApiReply;
  headers: Record<string, string>;
}

const DEFAULT_MAX_FAILURES = 5;
const DEFAULT_LOCKOUT_MS = 60_000;
/** Clients whose failures are followed at once: about 100 bytes each. */
const MAX_ADDRESSES = 10_000;

/**
 * Checks a request's Authorization header against one user and password. Browsers ask for the
 * login once and send it with the page's own API calls, so the page needs no code for it. A
 * client that fails too often in a row waits before any login of its is checked again.
 */
export class BasicAuth {
  private readonly expectedDigest: Buffer;
  private readonly throttle: LoginThrottle;

  constructor(auth: WebViewAuth) {
    assertAuth(auth);
    this.expectedDigest = digest(`Basic ${Buffer.from(`${auth.user}:${auth.password}`, 'utf8').toString('base64')}`);
    this.throttle = new LoginThrottle({
      maxFailures: auth.maxFailures ?? DEFAULT_MAX_FAILURES,
      lockoutMs: auth.lockoutMs ?? DEFAULT_LOCKOUT_MS,
      maxAddresses: MAX_ADDRESSES,
    });
  }

  /** Why a request from `address` with this Authorization `header` is refused; undefined when it carries the login. */
  refusal(header: string | undefined, address: string): LoginRefusal | undefined {
    const waitMs = this.throttle.waitMs(address);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      const reply = problemReply(429, 'TOO_MANY_LOGINS', `Too many failed logins from this address: try again in ${seconds} s.`);
      return { reply, headers: { 'retry-after': String(seconds) } };
    }
    if (header !== undefined && this.allows(header)) {
      this.throttle.succeeded(address);
      return undefined;
    }
    // A browser's first request carries no login: only a wrong one counts as a failure.
    if (header !== undefined) this.throttle.failed(address);
    const reply = problemReply(401, 'UNAUTHORIZED', 'This dashboard asks for a user and password.');
    return { reply, headers: { 'www-authenticate': 'Basic realm="qtasks", charset="UTF-8"' } };
  }

  /** True when `header` carries the login. Digests of equal length keep the compare constant-time. */
  private allows(header: string): boolean {
    return timingSafeEqual(digest(header), this.expectedDigest);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function assertAuth(auth: unknown): asserts auth is WebViewAuth {
  const { user, password, maxFailures, lockoutMs } = (auth ?? {}) as Partial<WebViewAuth>;
  // Basic authentication sends `user:password`: a colon in the user name would split it elsewhere.
  if (typeof user !== 'string' || user === '' || user.includes(':')) {
    throw new InvalidOptionError('WebView auth.user must be a non-empty string without ":".');
  }
  if (typeof password !== 'string' || password === '') {
    throw new InvalidOptionError('WebView auth.password must be a non-empty string.');
  }
  if (maxFailures !== undefined && !(Number.isInteger(maxFailures) && maxFailures >= 1)) {
    throw new InvalidOptionError(`WebView auth.maxFailures must be a whole number of at least 1, got ${maxFailures}.`);
  }
  if (lockoutMs !== undefined && !(Number.isInteger(lockoutMs) && lockoutMs >= 1)) {
    throw new InvalidOptionError(`WebView auth.lockoutMs must be a whole number of milliseconds, at least 1, got ${lockoutMs}.`);
  }
}
