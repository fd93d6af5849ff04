import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { raceTimeout } from '../../lib/core/timing.js';
import { eventually } from '../helpers/eventually.js';
import { uniqueAppName } from '../helpers/names.js';
import { freePort } from '../helpers/redis-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** execFileSync whose failure shows what the command printed (by default only "Command failed"). */
function run(command: string, args: string[], options: Parameters<typeof execFileSync>[2]): string {
  try {
    return String(execFileSync(command, args, { stdio: 'pipe', ...options }));
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer | string; stderr?: Buffer | string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${String(stdout ?? '')}${String(stderr ?? '')}`, { cause: error });
  }
}

/**
 * Packs the library as it would be published and installs it beside Nest 11 in a scratch app
 * (from the npm registry), so the library resolves Nest 11, not the Nest 12 it is developed with.
 */
// Built once for both suites below (in one file, so no other build writes dist/ meanwhile).
let built = false;
function buildOnce(): void {
  if (!built) run('npm', ['run', 'build'], { cwd: root });
  built = true;
}

describe('a Nest 11 app', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'qtasks-nest11-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("loads the packed library and runs a task; the app's own @Cron job of @nestjs/schedule 6 runs once per tick; a class listed in two modules fails naming both; two close() calls at once let a running task store its result, and a third close fires no app_stop again", { timeout: 180_000 }, () => {
    buildOnce();
    run('npm', ['pack', '--pack-destination', scratch], { cwd: root });
    const tarball = readdirSync(scratch).find((file) => file.endsWith('.tgz'))!;
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'nest11-app', private: true }));
    run('npm', ['install', '--no-audit', '--no-fund', '@nestjs/common@11', '@nestjs/core@11', '@nestjs/schedule@6', 'reflect-metadata', 'rxjs', `./${tarball}`], {
      cwd: scratch,
    });
    copyFileSync(join(root, 'test/fixtures/nest11-app.cjs'), join(scratch, 'app.cjs'));
    const output = run(process.execPath, ['app.cjs'], {
      cwd: scratch,
      env: { ...process.env, URL: inject('redisUrl'), APP_NAME: uniqueAppName('nest11') },
      timeout: 60_000,
    });
    const result = JSON.parse(output.trim().split('\n').pop()!) as {
      status: string;
      returning: string;
      nest: string;
      engineShared: boolean;
      cronRuns: number;
      cronTwiceInASecond: boolean;
      duplicateError: string;
      closedTwiceStatus: string;
      appStops: number;
    };
    expect(result.nest).toMatch(/^11\./);
    expect(result).toMatchObject({
      status: 'success',
      returning: 'hello nest 11',
      engineShared: true,
      cronTwiceInASecond: false,
      closedTwiceStatus: 'success',
      appStops: 1,
    });
    expect(result.cronRuns).toBeGreaterThan(0);
    expect(result.duplicateError).toBe('Task name "mail" is used twice: by Mailer.mail in BillingModule and by Mailer.mail in ReportsModule.');
  });
});

/**
 * The sample as `npm run sample` runs it: compiled by tsc, not by the SWC transform the other tests
 * use, whose decorator metadata differs (tsc emits Function for a class imported with `import type`).
 */
describe('the sample built by tsc', () => {
  it('serves, runs a task to success, and ends by itself on SIGINT', { timeout: 120_000 }, async () => {
    buildOnce();
    const [port, webviewPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, ['dist/sample/main.js'], {
      cwd: root,
      env: { ...process.env, PORT: String(port), QTASKS_WEBVIEW_PORT: String(webviewPort), QTASKS_URL: inject('redisUrl') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      await eventually('the sample to listen', async () => output.includes(`listening on http://127.0.0.1:${port}`), 30_000);
      const base = `http://127.0.0.1:${port}`;
      const { uuid } = (await (await fetch(`${base}/users/5/record`, { method: 'POST' })).json()) as { uuid: string };
      await eventually(
        `task ${uuid} to end success`,
        async () => ((await (await fetch(`${base}/tasks/${uuid}`)).json()) as { status: string }).status === 'success',
        15_000,
      );
      expect((await fetch(`http://127.0.0.1:${webviewPort}/api/overview`)).status).toBe(200);
    } catch (error) {
      throw new Error(`${(error as Error).message}; the sample printed:\n${output}`, { cause: error });
    } finally {
      child.kill('SIGINT');
    }
    // Nest's shutdown hooks close the app, then raise the signal again: it ends by SIGINT, not code 0.
    const [code, signal] = await raceTimeout(exited, 15_000, () => {
      child.kill('SIGKILL');
      throw new Error(`the sample did not end within 15 s of SIGINT; it printed:\n${output}`);
    });
    expect({ code, signal }, output).toEqual({ code: null, signal: 'SIGINT' });
  });
});
