import type { Reporter, SerializedError, TestCase, TestModule } from 'vitest/node';

/**
 * Ends the run with the plain line "N passed, N failed, N skipped" that CI reads, after vitest's own summary.
 *
 * A suite that breaks counts as failed, never as skipped: a test that did not run because its module failed
 * to load or a hook of its suite threw is a failed test, a failed module with no test to blame (an import
 * error collects none) counts once, and so does every unhandled error. Only tests marked skip/todo, left
 * out by `only`, or skipped by the test itself (`ctx.skip()`, `skipIf`) count as skipped.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError> = []): void {
    const { passed, failed, skipped } = summarize(testModules, unhandledErrors.length);
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}

export function summarize(
  testModules: ReadonlyArray<TestModule>,
  unhandledErrorCount: number,
): { passed: number; failed: number; skipped: number } {
  const counts = { passed: 0, failed: unhandledErrorCount, skipped: 0 };
  for (const testModule of testModules) {
    let failedInModule = 0;
    for (const test of testModule.children.allTests()) {
      const state = test.result().state;
      if (state === 'passed') counts.passed += 1;
      else if (state === 'failed' || (state !== 'skipped' && testModule.state() === 'failed')) failedInModule += 1;
      else if (state === 'skipped' && !chosenToSkip(test) && insideFailedSuite(test)) failedInModule += 1;
      else counts.skipped += 1;
    }
    const moduleFailed = testModule.state() === 'failed' || testModule.errors().length > 0;
    counts.failed += failedInModule === 0 && moduleFailed ? 1 : failedInModule;
  }
  return counts;
}

/** Skipped on purpose: `.skip`, `.todo`, `skipIf`, left out by `.only`, or `ctx.skip()` inside the test. */
function chosenToSkip(test: TestCase): boolean {
  return test.options.mode !== 'run' || test.diagnostic() !== undefined;
}

function insideFailedSuite(test: TestCase): boolean {
  for (let parent = test.parent; ; parent = parent.parent) {
    if (parent.state() === 'failed') return true;
    if (parent.type === 'module') return false;
  }
}
