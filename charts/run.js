/**
 * What cdk8s.yaml's `app:` runs: compiles the project only when its sources changed, then runs the
 * compiled app (build/charts/main.js).
 *
 * Why: `npm run build` with nothing to do still starts npm and a `tsc -p` that parses every file again, the
 * declaration files cdk8s-plus-28 brings included (about 0.7 s of CPU with TypeScript 7, 3 s with 5.9);
 * hashing the sources takes milliseconds. Why a hash and not mtimes: a file restored from a backup or an
 * archive can carry an older mtime than the build, and a deleted file leaves no mtime at all. The hash
 * covers the name and content of every file under lib/, charts/ and cli/ and the files that decide how
 * they compile; it is recorded only after a build succeeds, so a failed build is tried again next time.
 * Plain JavaScript, so it runs before anything is compiled. `node charts/run.js --compile-only` brings the
 * build up to date and stops there (the tests' global setup uses it).
 */
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const SOURCE_DIRS = ['lib', 'charts', 'cli'];
const BUILD_INPUTS = ['tsconfig.json', 'package.json', 'package-lock.json'];
const STAMP = path.join(ROOT, 'build', '.sources.sha256');
const APP = path.join(ROOT, 'build', 'charts', 'main.js');

/** SHA-256 over the relative path and content of every build input, in a fixed order. */
function sourcesHash() {
  const files = [...SOURCE_DIRS.flatMap((dir) => filesUnder(dir)), ...BUILD_INPUTS].sort();
  const hash = createHash('sha256');
  for (const file of files) {
    let content;
    try {
      content = fs.readFileSync(path.join(ROOT, file));
    } catch {
      content = 'missing';
    }
    hash.update(`${file}\0${content.length}\0`).update(content);
  }
  return hash.digest('hex');
}

function filesUnder(dir) {
  return fs
    .readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath ?? entry.path, entry.name)));
}

function readStamp() {
  try {
    return fs.readFileSync(STAMP, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const current = sourcesHash();
if (current !== readStamp() || !fs.existsSync(APP)) {
  try {
    // tsc reports errors on stdout, which cdk8s-cli keeps to itself when the app fails: send them to stderr.
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['inherit', 2, 'inherit'] });
  } catch (error) {
    // tsc has printed the errors; the old build must not run in place of the sources.
    process.exit(typeof error.status === 'number' && error.status !== 0 ? error.status : 1);
  }
  const temp = `${STAMP}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${current}\n`);
  fs.renameSync(temp, STAMP);
}
if (!process.argv.includes('--compile-only')) require(APP);
