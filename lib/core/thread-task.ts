import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorMessage, InvalidOptionError, ThreadModuleError } from './errors.js';
import type { TaskAbort } from './task-abort.js';
import { isGenerator } from './task-generator.js';
import { settleWithin } from './timing.js';
import type { TaskDeclaration, TaskDefinition, TaskHandler } from './task-registry.js';

/**
 * The `thread` task option: the module whose export does the task's work. A worker thread cannot
 * reach the app's objects (a Nest instance, a closure), so the work is named by module and gets
 * only the task's JSON arguments.
 */
export interface ThreadTaskOptions {
  /** `new URL('./hash.js', import.meta.url)`, a URL string, or an absolute path. */
  module: URL | string;
  /** The exported function; default `'default'`. */
  export?: string;
}

/** Where a thread task's export is: module URL and export name (both plain strings, for a thread). */
export interface ThreadTarget {
  url: string;
  exportName: string;
}

/** Runs thread tasks' exports away from the event loop (ThreadWorker's pool). */
export interface ThreadRunner {
  /**
   * Calls the export of task `taskName`; resolves with its result as the JSON its record keeps,
   * encoded where the export ran as an inline run encodes it (a NotSerializableError when it cannot
   * be). Called with the task's time limit paused: it resumes it (`abort.resumeTime()`) when a
   * thread takes the call, so a wait for a free thread is not the task's time.
   */
  run(taskName: string, target: ThreadTarget, args: unknown[], abort: TaskAbort): Promise<string>;
}

/**
 * A declaration with the `thread` option, made ready to run: its target, and a handler that loads
 * the export in this thread (for workers without threads). The handler it was given, if any (a
 * decorated method), is never called: the export is the work, whichever worker runs it.
 */
export function asThreadTask(definition: TaskDeclaration, thread: ThreadTaskOptions): TaskDefinition {
  const where = `of task at ${definition.source}`;
  if (definition.contextIndex !== undefined) {
    throw new InvalidOptionError(`Task at ${definition.source} runs on a thread and cannot take a TaskContext (echo, @TaskCtx).`);
  }
  const target = { url: moduleUrl(thread.module, where), exportName: thread.export ?? 'default' };
  if (typeof target.exportName !== 'string' || target.exportName === '') {
    throw new InvalidOptionError(`thread.export ${where} must be a non-empty string.`);
  }
  const handler: TaskHandler = async (...args) => wholeResult(target, await (await loadExport(target))(...args));
  return { ...definition, handler, thread: target };
}

/**
 * What an export returned, refused when it is a generator: one cannot leave a thread, and a run on
 * the event loop (an AsyncWorker, runInline) refuses it too, or it would pass there and fail on a
 * ThreadWorker.
 */
export function wholeResult(target: ThreadTarget, result: unknown): unknown {
  if (isGenerator(result)) {
    throw new TypeError(`Export "${target.exportName}" of ${target.url} returned a generator, which cannot leave its thread: a thread task returns its whole result.`);
  }
  return result;
}

/** The module's URL: a relative path has nothing to be relative to, so it is refused. */
function moduleUrl(module: URL | string, where: string): string {
  if (module instanceof URL) return module.href;
  if (typeof module === 'string' && isAbsolute(module)) return pathToFileURL(module).href;
  if (typeof module === 'string' && URL.canParse(module)) return new URL(module).href;
  throw new InvalidOptionError(
    `thread.module ${where} must be a URL (e.g. new URL('./work.js', import.meta.url)) or an absolute path, got ${JSON.stringify(module)}.`,
  );
}

/** Exports found so far in this thread, by module URL and export name. */
const loadedExports = new Map<string, TaskHandler>();

/**
 * The export to call: looked up once per thread and export, since every run of a thread task
 * needs it (a failed lookup is not kept: the next run tries again).
 */
export async function loadExport(target: ThreadTarget): Promise<TaskHandler> {
  const key = `${target.exportName}@${target.url}`;
  let handler = loadedExports.get(key);
  if (!handler) {
    handler = await importExport(target);
    loadedExports.set(key, handler);
  }
  return handler;
}

/**
 * Loads the exports a thread will call before it takes calls, so that a call's time limit counts
 * its work, not the import of its module. A load that fails is left to the call, which tries it
 * again and fails as it would have; one still going after `waitMs` (a top-level await that never
 * ends) finishes while the thread takes calls, rather than keep the thread from ever starting.
 */
export async function preloadExports(targets: ThreadTarget[], waitMs: number): Promise<void> {
  await settleWithin(targets.map((target) => loadExport(target)), waitMs);
}

async function importExport({ url, exportName }: ThreadTarget): Promise<TaskHandler> {
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new ThreadModuleError(url, exportName, `the module cannot be loaded (${errorMessage(error)})`, { cause: error });
  }
  const exported = module[exportName];
  if (typeof exported === 'function') return exported as TaskHandler;
  throw new ThreadModuleError(
    url,
    exportName,
    exportName in module
      ? `the export is not a function but ${exported === null ? 'null' : typeof exported}`
      : `the module has no such export (it exports: ${Object.keys(module).join(', ') || 'nothing'})`,
  );
}
