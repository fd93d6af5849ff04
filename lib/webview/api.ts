import { errorMessage, InvalidOptionError, QTasksError, TaskNotFoundError, type QTasksErrorCode } from '../core/errors.js';
import { wholeNumberText } from '../core/config.js';
import { assertTaskState, finishedVersion, MAX_LIST_LIMIT, type QueueInspector, type TaskState } from './inspector.js';

/** A read the dashboard's JSON API does on the inspector. */
export type ApiRead = (inspector: QueueInspector) => Promise<ApiReply>;

export interface ApiReply {
  status: number;
  /** Undefined for a 304, which carries none. */
  body: unknown;
  headers?: Record<string, string>;
}

/** What a route reads of a request besides its URL. */
interface ApiRequest {
  url: URL;
  match: RegExpExecArray;
  /** The If-None-Match header: the versions of a record the client holds already. */
  ifNoneMatch?: string;
}

const DEFAULT_LIMIT = 50;

const ROUTES: { path: RegExp; read: (request: ApiRequest) => ApiRead }[] = [
  { path: /^\/api\/overview$/, read: () => async (inspector) => ok(await inspector.overview()) },
  { path: /^\/api\/apps$/, read: () => async (inspector) => ok({ apps: await inspector.apps() }) },
  {
    path: /^\/api\/tasks$/,
    read: ({ url }) => {
      const state = stateParam(url.searchParams.get('state'));
      const limit = limitParam(url.searchParams.get('limit'));
      const offset = offsetParam(url.searchParams.get('offset'));
      return async (inspector) => ok(await inspector.tasks(state, limit, offset));
    },
  },
  {
    path: /^\/api\/tasks\/([^/]+)$/,
    read: ({ match, ifNoneMatch }) => {
      const uuid = uuidParam(match[1]!);
      const known = ifNoneMatch === undefined ? undefined : knownVersions(ifNoneMatch);
      return async (inspector): Promise<ApiReply> => {
        // A finished record changes only when requeued, which changes its version: the page
        // polling a shown one is told "unchanged" from the record's first bytes, not sent it again.
        if (known instanceof Set) {
          const version = await inspector.finishedVersion(uuid);
          if (version !== undefined && known.has(version)) return notModified(version);
        }
        const record = await inspector.task(uuid);
        if (!record) throw new TaskNotFoundError(uuid);
        const version = finishedVersion(record.status, record.updatedAt.getTime());
        if (known === ANY_VERSION) return notModified(version);
        return { ...ok(record), headers: version === undefined ? {} : { etag: version } };
      };
    },
  },
];

export const API_HELP = 'GET /api/overview, /api/tasks?state=<state>&limit=<n>&offset=<n>, /api/tasks/<uuid>, /api/apps';

/**
 * The read a request path asks for, or undefined when no route matches. Bad input throws
 * InvalidOptionError here, before Redis is touched: it is a 400 even while Redis is down.
 */
export function apiRead(url: URL, ifNoneMatch?: string): ApiRead | undefined {
  for (const { path, read } of ROUTES) {
    const match = path.exec(url.pathname);
    if (match) return read({ url, match, ifNoneMatch });
  }
  return undefined;
}

function ok(body: unknown): ApiReply {
  return { status: 200, body };
}

function notModified(version: string | undefined): ApiReply {
  return { status: 304, body: undefined, headers: version === undefined ? {} : { etag: version } };
}

/** If-None-Match's `*`: the client holds some version of the record, whichever it is. */
const ANY_VERSION = '*';

/**
 * The versions an If-None-Match header says the client holds: `*`, or its list of tags. A weak tag
 * (`W/"..."`) counts as its opaque part, since a GET compares tags weakly; a proxy may have
 * weakened ours, or joined several into one list.
 */
function knownVersions(header: string): typeof ANY_VERSION | Set<string> {
  if (header.trim() === ANY_VERSION) return ANY_VERSION;
  return new Set(Array.from(header.matchAll(/(?:W\/)?("[^"]*")/g), ([, opaque]) => opaque!));
}

const STATUS_BY_CODE: Partial<Record<QTasksErrorCode, number>> = {
  INVALID_OPTION: 400,
  TASK_NOT_FOUND: 404,
  MALFORMED_RECORD: 422,
  MALFORMED_KEY: 422,
  REDIS_UNAVAILABLE: 503,
};

/** The JSON reply for an error: the library's typed errors keep their code and message. */
export function errorReply(error: unknown): ApiReply {
  if (error instanceof QTasksError) {
    return { status: STATUS_BY_CODE[error.code] ?? 500, body: { error: { code: error.code, message: error.message } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: errorMessage(error) } } };
}

export function problemReply(status: number, code: string, message: string): ApiReply {
  return { status, body: { error: { code, message } } };
}

function stateParam(given: string | null): TaskState {
  const state = given ?? 'queued';
  assertTaskState(state);
  return state;
}

function limitParam(given: string | null): number {
  return given === null ? DEFAULT_LIMIT : wholeNumberText('limit', given, 1, MAX_LIST_LIMIT);
}

function offsetParam(given: string | null): number {
  return given === null ? 0 : wholeNumberText('offset', given, 0);
}

function uuidParam(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new InvalidOptionError(`Task uuid "${encoded}" is not a valid URL path segment.`);
  }
}
