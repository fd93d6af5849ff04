import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError } from '../core/errors.js';

/** The login the dashboard asks for (HTTP Basic authentication). */
export interface WebViewAuth {
  user: string;
  password: string;
}

/**
 * Checks a request's Authorization header against one user and password. Browsers ask for the
 * login once and send it with the page's own API calls, so the page needs no code for it.
 */
export class BasicAuth {
  private readonly expectedDigest: Buffer;

  constructor(auth: WebViewAuth) {
    assertAuth(auth);
    this.expectedDigest = digest(`Basic ${Buffer.from(`${auth.user}:${auth.password}`, 'utf8').toString('base64')}`);
  }

  /** True when `header` carries the login. Digests of equal length keep the compare constant-time. */
  allows(header: string | undefined): boolean {
    return header !== undefined && timingSafeEqual(digest(header), this.expectedDigest);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function assertAuth(auth: unknown): asserts auth is WebViewAuth {
  const { user, password } = (auth ?? {}) as Partial<WebViewAuth>;
  // Basic authentication sends `user:password`: a colon in the user name would split it elsewhere.
  if (typeof user !== 'string' || user === '' || user.includes(':')) {
    throw new InvalidOptionError('WebView auth.user must be a non-empty string without ":".');
  }
  if (typeof password !== 'string' || password === '') {
    throw new InvalidOptionError('WebView auth.password must be a non-empty string.');
  }
}
