import { afterAll } from 'vitest';
import { removeTempDirs } from './temp-dir';

// A setup file runs again for every test file, also in a worker that runs several (isolate: false), so each
// file removes its own temp directories when it ends; a hook in the shared module would run after the first only.
afterAll(removeTempDirs);
