// The README's TypeScript examples as modules: found in the Markdown, type-checked against the
// library's sources, and written out to run, importing the library by its package name as a user does.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ReadmeBlock {
  /** README line of the opening fence: how a failure names the block. */
  line: number;
  /** The module's file name: the one its first-line comment gives (`// primes.ts: ...`), else one made from `line`. */
  fileName: string;
  source: string;
}

const FENCE = /^```(\S*)\s*$/;
const NAMED_FILE = /^\/\/ ([\w.-]+\.ts)\b/;

/** Every ```ts block of `markdown`, in order. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const blocks: ReadmeBlock[] = [];
  const lines = markdown.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const opening = FENCE.exec(lines[index]!);
    if (!opening) continue;
    const closing = lines.findIndex((text, at) => at > index && text.trimEnd() === '```');
    if (closing === -1) throw new Error(`README.md:${index + 1}: a code block that is never closed`);
    if (opening[1] === 'ts') blocks.push(block(index + 1, lines.slice(index + 1, closing).join('\n') + '\n'));
    index = closing;
  }
  assertDistinctFileNames(blocks);
  return blocks;
}

function block(line: number, source: string): ReadmeBlock {
  const fileName = NAMED_FILE.exec(source)?.[1] ?? `readme-line-${line}.ts`;
  return { line, fileName, source };
}

function assertDistinctFileNames(blocks: ReadmeBlock[]): void {
  const seen = new Map<string, number>();
  for (const { fileName, line } of blocks) {
    const earlier = seen.get(fileName);
    if (earlier !== undefined) throw new Error(`README.md:${line}: the block names itself ${fileName}, as the one at line ${earlier} does`);
    seen.set(fileName, line);
  }
}

/** The package's entry points by import specifier (`nestjs-qtasks/engine`), each as its source module under lib/. */
export function packageEntryPoints(): Map<string, string> {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, { default: string }>;
  };
  const entries = new Map<string, string>();
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    const specifier = posix.join(manifest.name, subpath);
    // The built file dist/lib/x.js comes from the source lib/x.ts.
    const source = target.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts');
    entries.set(specifier, join(REPO_ROOT, source));
  }
  return entries;
}

/** Where the blocks sit for the compiler: beside the package's sources, so its package.json and node_modules apply. */
const EXAMPLES_DIR = join(REPO_ROOT, 'readme-examples');

/**
 * Type-checks every block in one Program, each block a module of its own, with the project's
 * compiler options and the package name mapped to lib/. Answers one message per problem, naming
 * the README line it is on.
 */
export function typeCheckBlocks(blocks: ReadmeBlock[]): string[] {
  const byPath = new Map(blocks.map((block) => [join(EXAMPLES_DIR, block.fileName), block]));
  const options = exampleCompilerOptions();
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.getCurrentDirectory = () => REPO_ROOT;
  host.directoryExists = (path) => path === EXAMPLES_DIR || ts.sys.directoryExists(path);
  host.fileExists = (path) => byPath.has(path) || fileExists.call(host, path);
  host.readFile = (path) => byPath.get(path)?.source ?? readFile.call(host, path);
  host.getSourceFile = (path, languageVersion, ...rest) => {
    const block = byPath.get(path);
    return block ? ts.createSourceFile(path, block.source, languageVersion, true) : getSourceFile.call(host, path, languageVersion, ...rest);
  };
  const program = ts.createProgram([...byPath.keys()], options, host);
  const examples = [...byPath.keys()].map((path) => program.getSourceFile(path)!);
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...examples.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
  ];
  return diagnostics.map((diagnostic) => describeDiagnostic(diagnostic, byPath));
}

function describeDiagnostic(diagnostic: ts.Diagnostic, byPath: Map<string, ReadmeBlock>): string {
  const message = `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
  const block = diagnostic.file && byPath.get(diagnostic.file.fileName);
  if (!block || diagnostic.start === undefined) return diagnostic.file ? `${diagnostic.file.fileName}: ${message}` : message;
  const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start);
  return `README.md:${block.line + 1 + line} (the block at line ${block.line}): ${message}`;
}

/**
 * The project's options (tsconfig.json), except that examples may leave what they declare unused
 * (they name values to show their types), nothing is emitted, and the package name resolves to
 * the sources (`paths`, from the package's own `exports`).
 */
function exampleCompilerOptions(): ts.CompilerOptions {
  const configPath = join(REPO_ROOT, 'tsconfig.json');
  const { config } = ts.readConfigFile(configPath, ts.sys.readFile);
  const paths = Object.fromEntries([...packageEntryPoints()].map(([specifier, source]) => [specifier, [source]]));
  const { options, errors } = ts.convertCompilerOptionsFromJson(
    { ...config.compilerOptions, noUnusedLocals: false, noUnusedParameters: false, moduleDetection: 'force', noEmit: true, declaration: false, paths },
    dirname(configPath),
  );
  if (errors.length > 0) throw new Error(errors.map((error) => ts.flattenDiagnosticMessageText(error.messageText, '\n')).join('\n'));
  return options;
}

/** The Redis URL the examples use, which a run points at a test server instead. */
const README_REDIS = 'redis://127.0.0.1:6379';

/** A fresh directory for blocks to run from: in the repository (so its node_modules resolve), under its git-ignored tmp/. */
export function runDirectory(label: string): string {
  mkdirSync(join(REPO_ROOT, 'tmp'), { recursive: true });
  return mkdtempSync(join(REPO_ROOT, 'tmp', `${label}-`));
}

/**
 * Writes every block into `dir` (see runDirectory) as it would run: the package's imports point
 * at lib/ by absolute path (which Node and vitest both resolve), and the README's Redis at `redisUrl`.
 */
export function writeRunnableBlocks(blocks: ReadmeBlock[], dir: string, redisUrl: string): void {
  const entryPoints = [...packageEntryPoints()].map(([specifier, source]) => [`'${specifier}'`, `'${source}'`] as const);
  for (const block of blocks) {
    let source = block.source.replaceAll(README_REDIS, redisUrl);
    for (const [specifier, url] of entryPoints) source = source.replaceAll(specifier, url);
    writeFileSync(join(dir, block.fileName), source);
  }
}

/** Whether the block talks to the README's Redis, which a run can redirect. */
export function usesReadmeRedis(block: ReadmeBlock): boolean {
  return block.source.includes(README_REDIS);
}

const PRINTED = /^\s*console\.log\(.*\);\s*\/\/ (.+)$/;

/** What the block says it prints: the comment closing each `console.log(...);` line, in order. */
export function announcedOutput(block: ReadmeBlock): string[] {
  return block.source.split('\n').flatMap((line) => PRINTED.exec(line)?.[1]?.trim() ?? []);
}

/** The `expected` lines that `output` does not hold as whole lines in that order (each after the one before). */
export function missingInOrder(output: string, expected: string[]): string[] {
  const lines = output.split('\n').map((line) => line.trim());
  let from = 0;
  return expected.filter((text) => {
    const at = lines.indexOf(text, from);
    if (at === -1) return true;
    from = at + 1;
    return false;
  });
}
