import { execFileSync } from 'node:child_process';

/** Compile once before any suite runs the synthesized app (build/charts/main.js) or the CLI's bin. */
export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: `${__dirname}/..`, stdio: 'inherit' });
}
