import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MalformedKeyError, MalformedRecordError } from '../core/errors.js';
import type { RedisClient } from './connection.js';
import type { ScriptLane } from './script-lane.js';

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'lua');

/** Every state change of the engine, one Lua file each, and `uptime`; the number is how many KEYS it takes. */
const SCRIPT_KEYS = {
  enqueue: 3,
  'enqueue-before': 3,
  claim: 4,
  complete: 4,
  renew: 1,
  release: 3,
  recover: 4,
  cancel: 2,
  watch: 3,
  progress: 1,
  'schedule-run': 1,
  'schedule-publish': 2,
  'schedule-remove': 2,
  'requeue-finished': 2,
  pause: 1,
  wake: 1,
  'end-wait': 1,
  uptime: 1,
} as const;

export type ScriptName = keyof typeof SCRIPT_KEYS;
type Arg = string | number;

interface LoadedScript {
  source: string;
  sha: string;
  keyCount: number;
}

/**
 * A script's source with its `--@include x` lines replaced by lua/includes/x.lua, recursively, each
 * include at most once per script: helpers live in one place, and a script defines only the ones
 * it uses (every function defined costs Redis time on every call).
 */
function loadSource(name: string): string {
  const included = new Set<string>();
  const expand = (text: string): string =>
    text.replace(/^--@include ([\w-]+)\n/gm, (_, include: string) => {
      if (included.has(include)) return '';
      included.add(include);
      return expand(readFileSync(join(LUA_DIR, 'includes', `${include}.lua`), 'utf8'));
    });
  return expand(readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8'));
}

export const SCRIPT_NAMES = Object.keys(SCRIPT_KEYS) as ScriptName[];

const LOADED = new Map<ScriptName, LoadedScript>(
  SCRIPT_NAMES.map((name) => {
    const source = loadSource(name);
    return [name, { source, sha: createHash('sha1').update(source).digest('hex'), keyCount: SCRIPT_KEYS[name] }];
  }),
);

/** A script's full source as Redis runs it (includes expanded). */
export function scriptSource(name: ScriptName): string {
  return LOADED.get(name)!.source;
}

/** The sha a script is called by (EVALSHA). */
export function scriptSha(name: ScriptName): string {
  return LOADED.get(name)!.sha;
}

/**
 * Runs the engine's scripts by sha (EVALSHA), loading a script's source only when Redis answers
 * NOSCRIPT (first use, or after a restart or SCRIPT FLUSH).
 */
export class ScriptRunner {
  constructor(
    private readonly client: RedisClient,
    private readonly lane?: ScriptLane,
  ) {}

  /**
   * run() on the lane when it is open (see ScriptLane). Only for a script that Redis runs once per
   * call however often it is sent (a lost lane sends it again): enqueue and enqueue-before store
   * each uuid once.
   */
  runOnLane(name: ScriptName, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    if (!this.lane) return this.run(name, keys, args);
    return this.lane.evalsha(LOADED.get(name)!.sha, keys, args, () => this.run(name, keys, args));
  }

  /** Runs a script on this runner's client, or on `client` (another connection of the same Redis). */
  run(name: ScriptName, keys: readonly string[], args: readonly Arg[], client: RedisClient = this.client): Promise<unknown> {
    const script = LOADED.get(name)!;
    if (keys.length !== script.keyCount) {
      return Promise.reject(new Error(`script ${name} takes ${script.keyCount} keys, got ${keys.length}`));
    }
    // Not an async function: one promise less on every call (an add makes one call).
    return client.evalsha(script.sha, script.keyCount, ...keys, ...args).catch((error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw typedRefusal(error);
      return client.eval(script.source, script.keyCount, ...keys, ...args).catch((retried: unknown) => {
        throw typedRefusal(retried);
      });
    });
  }
}

const MALFORMED_RECORD_REPLY = 'MALFORMED_RECORD ';
const MALFORMED_KEY_REPLY = 'MALFORMED_KEY ';

/**
 * A script's refusal of a record that is no task record, `MALFORMED_RECORD ["<uuid>","<why>"]`
 * (lua/includes/record-check.lua), as MalformedRecordError; of a key holding another Redis type,
 * `MALFORMED_KEY ["<key>","<type>","<expected>"]` (lua/includes/enqueue-tasks.lua), as
 * MalformedKeyError; any other error as it is.
 */
function typedRefusal(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  if (error.message.startsWith(MALFORMED_RECORD_REPLY)) {
    const [uuid, why] = replyFields(error.message, MALFORMED_RECORD_REPLY);
    return new MalformedRecordError(uuid!, why!);
  }
  if (error.message.startsWith(MALFORMED_KEY_REPLY)) {
    const [key, type, expected] = replyFields(error.message, MALFORMED_KEY_REPLY);
    return new MalformedKeyError(key!, type!, expected!);
  }
  return error;
}

/**
 * The keys a script passed over (`keyFaults` in lua/includes/key-faults.lua: a JSON array of
 * `[key, type, expected, field?]`), as MalformedKeyErrors.
 */
export function passedOverKeys(reply: string): MalformedKeyError[] {
  return (JSON.parse(reply) as [string, string, string, string?][]).map(([key, type, expected, field]) => new MalformedKeyError(key, type, expected, field));
}

/** The JSON array of strings after `prefix` in a script's error reply. */
function replyFields(message: string, prefix: string): string[] {
  // Some Redis versions append where the script stopped; the JSON array ends at the last ']'.
  return JSON.parse(message.slice(prefix.length, message.lastIndexOf(']') + 1)) as string[];
}
