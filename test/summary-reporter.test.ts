import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from './support/run';
import { REPO_ROOT } from './support/synth-app';

/** Suites that break in the two ways a fresh clone broke them: at import, and in a beforeAll. */
const SUITES: Record<string, string> = {
  'broken-import.test.ts': `
    import { readFileSync } from 'node:fs';
    readFileSync('/nonexistent/k3d-schema.json');
    test('never collected', () => {});
  `,
  'broken-hook.test.ts': `
    import { readFileSync } from 'node:fs';
    describe('needs a file', () => {
      beforeAll(() => { readFileSync('/nonexistent/k3d-schema.json'); });
      test('a', () => {});
      test('b', () => {});
      test.skip('marked skip', () => {});
    });
  `,
  'fine.test.ts': `
    test('passes', () => { expect(1).toBe(1); });
    test.skip('marked skip', () => {});
    test.skipIf(true)('skipIf', () => {});
    test('skips itself', (ctx) => { ctx.skip(); });
    describe.skip('skipped suite', () => { test('x', () => {}); });
  `,
};

describe('the summary line CI reads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'summary-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts a suite that fails to load, and tests its failed hook kept from running, as failed', async () => {
    for (const [name, source] of Object.entries(SUITES)) writeFileSync(join(dir, name), source);
    const vitest = join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs');
    const reporter = join(REPO_ROOT, 'test', 'summary-reporter.ts');
    // One worker running the files one after another, as npm test's workers do (isolate: false), instead of
    // a process per file: the count is the reporter's, whatever the pool.
    const result = await run(
      process.execPath,
      [
        vitest,
        'run',
        '--root',
        dir,
        '--globals',
        '--no-isolate',
        '--maxWorkers=1',
        '--reporter=default',
        `--reporter=${reporter}`,
      ],
      { cwd: dir, env: { PATH: process.env.PATH, TMPDIR: dir, NO_COLOR: '1' } },
    );
    const lastLine = result.stdout.trimEnd().split('\n').at(-1);
    expect(lastLine, result.stdout + result.stderr).toBe('1 passed, 3 failed, 5 skipped');
    expect(result.code).toBe(1);
  });
});
