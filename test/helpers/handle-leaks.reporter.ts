import type { Reporter, Vitest } from 'vitest/node';

/**
 * With vitest's `detectAsyncLeaks`, fails the run when a test file leaves a handle open (timer,
 * socket, child process...). Vitest itself only prints its findings and exits 0, and it also
 * counts promises that never settle, which keep nothing alive; those are left out here.
 */
export default class HandleLeaksReporter implements Reporter {
  private vitest?: Vitest;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(): void {
    const handles = [...(this.vitest?.state.leakSet ?? [])].filter((leak) => leak.type !== 'PROMISE');
    if (handles.length === 0) return;
    for (const leak of handles) console.error(`open ${leak.type} left by ${leak.filename}\n${leak.stack}`);
    process.exitCode = 1;
  }
}
