import { ThreadWorker, type ThreadWorkerOptions } from '../../lib/index.js';
import { REGISTER_TS } from './child-app.js';

/**
 * A ThreadWorker whose threads load the TypeScript sources through the tests' loader (a built app
 * needs no execArgv). Node 20 may crash when a thread running such module hooks ends and another
 * starts later in the same process, so a test file stops its ThreadWorkers only at its end.
 */
export function sourceThreadWorker(threads: number, options: ThreadWorkerOptions = {}): ThreadWorker {
  return new ThreadWorker({ threads, execArgv: ['--import', REGISTER_TS], ...options });
}
