import fs from 'node:fs';
import path from 'node:path';
import { type FileToWrite, PUBLIC_FILE_MODE, SECRET_FILE_MODE } from './atomic-file';
import { NODE_DIR } from './defaults';
import { CONTAINERD_HOSTS_DIR, MATERIAL_FILES } from './material-files';
import { commitMaterialChange } from './material-transaction';
import { ValidationError } from './validate';

/**
 * The material directory's layouts. The first one kept what the nodes read (certs/ca.crt,
 * certs/registries.yaml, certs.d/) beside the keys, and k3d mounted the whole directory on every node,
 * read-write: ca.key, tls.key, the htpasswd and the password reached every node. The current one moves
 * what the nodes read into node/, the only directory a node mounts (read-only); `migrate` moves an old one.
 */
export const MIGRATE_COMMAND = 'private-registry migrate';

/** Where each old-layout path moves; the paths on a node (/registry/certs/ca.crt ...) stay the same. */
const OLD_LAYOUT_MOVES = (): ReadonlyArray<{ readonly from: string; readonly to: string; readonly mode: number }> => [
  { from: 'certs/ca.crt', to: MATERIAL_FILES.caCertificate, mode: PUBLIC_FILE_MODE },
  { from: 'certs/registries.yaml', to: MATERIAL_FILES.registriesYaml, mode: SECRET_FILE_MODE },
];
const OLD_HOSTS_DIR = 'certs.d';

/** The old-layout paths present in `dir` (empty for current material). */
export function oldLayoutPaths(dir: string): string[] {
  return [...OLD_LAYOUT_MOVES().map((move) => move.from), OLD_HOSTS_DIR].filter((relativePath) =>
    fs.existsSync(path.join(dir, relativePath)),
  );
}

/** Why old-layout material is refused, and the fix. */
export function oldLayoutMessage(dir: string): string {
  return (
    `${dir} has the old material layout (${oldLayoutPaths(dir).join(', ')} at the top, and a k3d cluster made ` +
    `from it mounts the whole directory, keys included, on every node): move what the nodes read into ` +
    `${path.join(dir, NODE_DIR)} with "${MIGRATE_COMMAND} --dir ${dir}", then recreate the cluster from ` +
    `"private-registry k3d-config", which mounts only ${path.join(dir, NODE_DIR)}, read-only`
  );
}

/** Refuses old-layout material with the command that migrates it. */
export function assertCurrentLayout(dir: string): void {
  if (oldLayoutPaths(dir).length > 0) throw new ValidationError(oldLayoutMessage(dir));
}

/**
 * Moves old-layout material into the current layout: certs/ca.crt, certs/registries.yaml and certs.d/
 * into node/. The new files are all written before any old one is removed (commitMaterialChange), so a
 * run stopped half-way is finished by running it again. Returns the paths moved (empty: nothing to do).
 */
export function migrateMaterial(dir: string): string[] {
  const write: FileToWrite[] = [];
  for (const move of OLD_LAYOUT_MOVES()) {
    const source = path.join(dir, move.from);
    if (!fs.existsSync(source)) continue;
    write.push({ relativePath: move.to, content: fs.readFileSync(source, 'utf8'), mode: move.mode });
  }
  for (const relativePath of filesUnder(dir, OLD_HOSTS_DIR)) {
    const content = fs.readFileSync(path.join(dir, relativePath), 'utf8');
    const to = `${CONTAINERD_HOSTS_DIR}/${path.relative(OLD_HOSTS_DIR, relativePath).split(path.sep).join('/')}`;
    write.push({ relativePath: to, content, mode: PUBLIC_FILE_MODE });
  }
  const remove = [...OLD_LAYOUT_MOVES().map((move) => move.from), ...filesUnder(dir, OLD_HOSTS_DIR)].filter(
    (relativePath) => fs.existsSync(path.join(dir, relativePath)),
  );
  commitMaterialChange(dir, { write, remove });
  // What is left of certs.d holds no file (host directories without a hosts.toml, which containerd ignores).
  if (fs.existsSync(path.join(dir, OLD_HOSTS_DIR))) fs.rmSync(path.join(dir, OLD_HOSTS_DIR), { recursive: true });
  return remove;
}

/** Every file below `relativeDir` of `dir`, as paths relative to `dir`. */
function filesUnder(dir: string, relativeDir: string): string[] {
  const directory = path.join(dir, relativeDir);
  if (!fs.existsSync(directory) || !fs.statSync(directory).isDirectory()) return [];
  return fs.readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const relativePath = path.join(relativeDir, entry.name);
    return entry.isDirectory() ? filesUnder(dir, relativePath) : [relativePath];
  });
}
