import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { uniqueAppName } from '../helpers/names.js';

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
describe('a Nest 11 app', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'qtasks-nest11-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("loads the packed library and runs a task; the app's own @Cron job of @nestjs/schedule 6 runs once per tick", { timeout: 180_000 }, () => {
    run('npm', ['run', 'build'], { cwd: root });
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
    };
    expect(result.nest).toMatch(/^11\./);
    expect(result).toMatchObject({ status: 'success', returning: 'hello nest 11', engineShared: true, cronTwiceInASecond: false });
    expect(result.cronRuns).toBeGreaterThan(0);
  });
});
