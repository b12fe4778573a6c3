import * as fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { reportFigures } from './report';
import { SCENARIOS, type Verdict, judge, runNextCommand } from './scenarios';
import { exposedSecrets, materialTemplate, runNode, trialDir } from './support';

/**
 * Fault injection at every call: strace sends SIGKILL on entering the N-th call of a syscall, for N = 1 to
 * the number of such calls an uninterrupted run makes (counted with strace -c, and that run must end whole).
 * Entering a state-changing call is the instant after the previous one, so together these kill the command
 * between every two steps it takes on disk.
 */
const SYSCALLS = ['rename', 'write', 'fsync', 'fdatasync', 'pwrite64', 'link', 'unlink', 'mkdir', 'rmdir'];
const SCENARIO_FILTER = process.env.FAULTS_SCENARIOS?.split(',');

/** The trials for the scenarios named (two test files share them, so both cores work). */
export function injectionSuite(names: readonly string[]): void {
  describe('a SIGKILL injected at every rename, write, fsync, link, unlink, mkdir and rmdir', () => {
    let template: ReturnType<typeof materialTemplate>;
    beforeAll(() => {
      template = materialTemplate();
    });

    for (const scenario of SCENARIOS.filter(
      (s) => names.includes(s.name) && (SCENARIO_FILTER?.includes(s.name) ?? true),
    )) {
      it(`${scenario.name}: leaves the old or the new material, and the next command cleans up`, async () => {
        const started = Date.now();
        const before = scenario.materialBefore ? template.hashes : {};
        const points: Record<string, number> = {};
        const outcomes = { old: 0, new: 0, inconsistent: 0 };
        const failures: string[] = [];
        const counting = trialDir();
        if (scenario.materialBefore) template.copyTo(counting);
        const uninterrupted = await runNode(counting, scenario.args, { input: scenario.input, count: SYSCALLS });
        expect(uninterrupted.code, uninterrupted.stderr).toBe(0);
        expect(judge(scenario, counting, before)).toEqual({ state: 'new', problems: [] });
        const calls = uninterrupted.calls ?? {};
        for (const syscall of SYSCALLS) {
          points[syscall] = 0;
          for (let when = 1; when <= calls[syscall]; when++) {
            const cwd = trialDir();
            if (scenario.materialBefore) template.copyTo(cwd);
            const run = await runNode(cwd, scenario.args, { input: scenario.input, inject: { syscall, when } });
            let verdict: Verdict;
            let exposed: string[] = [];
            let next = 'nothing';
            if (run.signal === 'SIGKILL') {
              points[syscall]++;
              exposed = exposedSecrets(cwd);
              next = await runNextCommand(scenario, cwd);
              verdict = judge(scenario, cwd, before);
            } else {
              // This run made fewer such calls than the counted one (a write split differently): it ended.
              verdict =
                run.code === 0 ? judge(scenario, cwd, before) : { state: 'inconsistent', problems: [run.stderr] };
            }
            outcomes[verdict.state]++;
            if (exposed.length > 0 || verdict.state === 'inconsistent')
              failures.push(
                `${syscall} #${when}, then ${next}: ${[...verdict.problems, ...exposed.map((f) => `readable by others: ${f}`)].join('; ')}`,
              );
            fs.rmSync(cwd, { recursive: true, force: true });
          }
        }
        const killed = Object.values(points).reduce((a, b) => a + b, 0);
        reportFigures(`injection ${scenario.name}`, { killed, points, ...outcomes, ms: Date.now() - started });
        expect(failures).toEqual([]);
        // Every syscall the command makes was injected into (strace really killed it there).
        for (const syscall of SYSCALLS) if (calls[syscall] > 0) expect(points[syscall], syscall).toBeGreaterThan(0);
        // Some kills land before the change and some after its commit point: both outcomes are exercised.
        expect(outcomes.old).toBeGreaterThan(0);
        expect(outcomes.new).toBeGreaterThan(0);
      });
    }
  });
}
