#!/usr/bin/env node
let cli;
try {
  cli = require('../build/cli/main.js');
} catch (error) {
  // A fresh clone has no build/ until `npm run build` (or `npx cdk8s synth`, which builds first).
  if (error.code !== 'MODULE_NOT_FOUND' || !error.message.includes('build/cli/main.js')) throw error;
  process.stderr.write("private-registry: this clone is not built yet: run 'npm run build' first\n");
  process.exit(1);
}
cli.main().then((code) => {
  process.exitCode = code;
});
