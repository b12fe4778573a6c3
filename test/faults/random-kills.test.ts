import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { lockPathFor } from '../../lib/material-lock';
import { crashLeftovers } from '../../lib/material-transaction';
import { reportFigures } from './report';
import { SCENARIOS, judge, runNextCommand } from './scenarios';
import { MATERIAL, exposedSecrets, materialTemplate, runNode, trialDir } from './support';

/** Kills per scenario; 9 scenarios make 117. A run that ends before its kill is judged too, and not counted. */
const KILLS_PER_SCENARIO = 13;

/** A small seeded generator, so a failing run can be repeated with FAULTS_SEED. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('SIGKILL at random instants', () => {
  let template: ReturnType<typeof materialTemplate>;
  beforeAll(() => {
    template = materialTemplate();
  });

  it(`≥ 100 kills across every command leave the old or the new material`, async () => {
    const started = Date.now();
    const seed = Number(process.env.FAULTS_SEED ?? Date.now() % 2 ** 31);
    const random = seededRandom(seed);
    const outcomes = { old: 0, new: 0, inconsistent: 0 };
    let kills = 0;
    let leftBehind = 0;
    const failures: string[] = [];
    for (const scenario of SCENARIOS) {
      const before = scenario.materialBefore ? template.hashes : {};
      // How long the command takes here and now: the kills fall anywhere in it.
      const timing = trialDir();
      if (scenario.materialBefore) template.copyTo(timing);
      const full = await runNode(timing, scenario.args, { input: scenario.input });
      expect(full.code, full.stderr).toBe(0);
      fs.rmSync(timing, { recursive: true, force: true });
      for (let round = 0, killed = 0; killed < KILLS_PER_SCENARIO; round++) {
        expect(round, `${scenario.name}: too few runs were killed`).toBeLessThan(4 * KILLS_PER_SCENARIO);
        const cwd = trialDir();
        if (scenario.materialBefore) template.copyTo(cwd);
        const delay = Math.round(random() * full.ms);
        const run = await runNode(cwd, scenario.args, { input: scenario.input, killAfterMs: delay });
        const dir = path.join(cwd, MATERIAL);
        const exposed = exposedSecrets(cwd);
        if (run.signal === 'SIGKILL') {
          kills++;
          killed++;
          if (crashLeftovers(dir).length > 0 || fs.existsSync(lockPathFor(dir))) leftBehind++;
        }
        const next = await runNextCommand(scenario, cwd);
        const verdict = judge(scenario, cwd, before);
        outcomes[verdict.state]++;
        if (exposed.length > 0 || verdict.state === 'inconsistent')
          failures.push(
            `${scenario.name} killed after ${delay} ms, then ${next}: ${[...verdict.problems, ...exposed].join('; ')}`,
          );
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    }
    reportFigures('random kills', { seed, kills, leftBehind, ...outcomes, ms: Date.now() - started });
    expect(failures).toEqual([]);
    expect(kills).toBeGreaterThanOrEqual(100);
  });
});
