import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The suite's figures, one JSON line per test, appended to FAULTS_REPORT (default: the run's temp
 * directory) so the README's numbers come from a run, not from memory.
 */
export function reportFigures(name: string, figures: Record<string, unknown>): void {
  const file = process.env.FAULTS_REPORT ?? path.join(process.env.TMPDIR ?? '/tmp', 'faults-report.jsonl');
  fs.appendFileSync(file, `${JSON.stringify({ name, ...figures })}\n`);
  console.log(`${name}: ${JSON.stringify(figures)}`);
}
