// The package's entry points as a TypeScript app resolves them: every subpath of `exports` must
// reach its declarations under each module resolution an app may use, CommonJS Nest apps'
// classic `node10` included (it reads `types` and `typesVersions`, not `exports`).
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/readme-examples.js';

const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, { types: string }>;
};

/** An app beside the package, its node_modules holding the repository as installed. */
const APP_DIR = '/app';
const INSTALLED = join(APP_DIR, 'node_modules', manifest.name);

/**
 * Where a path of the installed package lies in the repository. The declarations under dist/lib
 * are taken where their sources under lib/ are, so the test needs no build.
 */
function inRepository(path: string): string | undefined {
  if (path !== INSTALLED && !path.startsWith(`${INSTALLED}/`)) return undefined;
  const built = relative(INSTALLED, path);
  return join(REPO_ROOT, built.replace(/^dist\/lib\b/, 'lib').replace(/\.d\.ts$/, '.ts'));
}

function existsInRepository(path: string): boolean {
  const file = inRepository(path);
  return file !== undefined && existsSync(file);
}

const host: ts.ModuleResolutionHost = {
  fileExists: existsInRepository,
  // The app's own directories, on the way down to the package.
  directoryExists: (path) => join(APP_DIR, 'node_modules').startsWith(path) || existsInRepository(path),
  readFile: (path) => (existsInRepository(path) ? readFileSync(inRepository(path)!, 'utf8') : undefined),
  realpath: (path) => path,
};

const resolutions: [string, ts.CompilerOptions, ts.ResolutionMode][] = [
  ['node10 (CommonJS)', { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 }, undefined],
  ['nodenext, from CommonJS', { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }, ts.ModuleKind.CommonJS],
  ['nodenext, from ESM', { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }, ts.ModuleKind.ESNext],
  ['bundler', { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }, undefined],
];

describe('the entry points of package.json', () => {
  const entries = Object.entries(manifest.exports).map(([subpath, { types }]) => [join(manifest.name, subpath), types] as const);

  it.each(resolutions)('each resolves to its declarations under %s', (_name, options, mode) => {
    const resolved = entries.map(([specifier]) => {
      const { resolvedModule } = ts.resolveModuleName(specifier, join(APP_DIR, 'app.ts'), options, host, undefined, undefined, mode);
      return resolvedModule && `./${relative(INSTALLED, resolvedModule.resolvedFileName)}`;
    });
    expect(resolved).toEqual(entries.map(([, types]) => types));
  });
});
