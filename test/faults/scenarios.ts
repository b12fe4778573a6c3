import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseHtpasswd, verifyPassword } from '../../lib/htpasswd';
import { CONTAINERD_HOSTS_DIR, MATERIAL_FILES, nodeCredentialsOf } from '../../lib/material';
import { CACHES_FILE } from '../../lib/material-caches-file';
import { parseRegistriesYaml } from '../../lib/registries-yaml';
import {
  BIN,
  MATERIAL,
  PASSWORDS,
  SYNTH_APP,
  backups,
  fileHashes,
  leftoversAfterRecovery,
  runNode,
  wholeMaterialProblems,
} from './support';

/** A command that changes the material, and what its new material must be. */
export interface Scenario {
  readonly name: string;
  /** Node's arguments: the bin and the command, or the synth app. */
  readonly args: readonly string[];
  readonly input?: string;
  /** Whether `<cwd>/registry` exists before (a copy of the template). */
  readonly materialBefore: boolean;
  /** The files the command rewrites, as one group: all old or all new. The others never change. */
  readonly group: readonly string[];
  /** Files the command creates, part of the same group: all there with the new material, none with the old. */
  readonly added?: readonly string[];
  /** What is wrong with the new material as this command makes it (undefined when right). */
  newMaterialProblem(dir: string): string | undefined;
}

const F = MATERIAL_FILES;
const nodeUser = (dir: string) =>
  nodeCredentialsOf(parseRegistriesYaml(fs.readFileSync(path.join(dir, F.registriesYaml), 'utf8'))).username;
const users = (dir: string) => parseHtpasswd(fs.readFileSync(path.join(dir, F.htpasswd), 'utf8'));
const expect = (ok: boolean, problem: string) => (ok ? undefined : problem);

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'init',
    args: [BIN, 'init', '--user', 'bob', '--password-stdin'],
    input: PASSWORDS.bob,
    materialBefore: false,
    group: [],
    newMaterialProblem: (dir) => expect(nodeUser(dir) === 'bob', 'the nodes do not pull as bob'),
  },
  {
    name: 'init --force',
    args: [BIN, 'init', '--force', '--user', 'bob', '--password-stdin'],
    input: PASSWORDS.bob,
    materialBefore: true,
    group: [F.caCertificate, F.caKey, F.tlsCertificate, F.tlsKey, F.registriesYaml, F.htpasswd, F.password],
    newMaterialProblem: (dir) => expect(nodeUser(dir) === 'bob', 'the nodes do not pull as bob'),
  },
  {
    name: 'user add',
    args: [BIN, 'user', 'add', 'bob', '--password-stdin'],
    input: PASSWORDS.bob,
    materialBefore: true,
    group: [F.htpasswd],
    newMaterialProblem: (dir) => expect(verifyPassword(users(dir), 'bob', PASSWORDS.bob), 'bob is not in htpasswd'),
  },
  {
    name: 'user remove',
    args: [BIN, 'user', 'remove', 'alice'],
    materialBefore: true,
    group: [F.htpasswd],
    newMaterialProblem: (dir) =>
      expect(!users(dir).some((entry) => entry.username === 'alice'), 'alice is still in htpasswd'),
  },
  {
    name: 'user remove --node-user',
    args: [BIN, 'user', 'remove', 'registry', '--node-user', 'alice', '--password-stdin'],
    input: PASSWORDS.alice,
    materialBefore: true,
    group: [F.registriesYaml, F.password, F.htpasswd],
    newMaterialProblem: (dir) =>
      expect(
        nodeUser(dir) === 'alice' && !users(dir).some((entry) => entry.username === 'registry'),
        'the nodes do not pull as alice, or registry is still in htpasswd',
      ),
  },
  {
    name: 'certs renew',
    args: [BIN, 'certs', 'renew'],
    materialBefore: true,
    group: [F.tlsCertificate, F.tlsKey],
    newMaterialProblem: () => undefined,
  },
  {
    name: 'certs renew --rotate-ca',
    args: [BIN, 'certs', 'renew', '--rotate-ca'],
    materialBefore: true,
    group: [F.caCertificate, F.caKey, F.tlsCertificate, F.tlsKey],
    newMaterialProblem: () => undefined,
  },
  {
    // Three new files and a rewritten registries.yaml in one transaction.
    name: 'cache add',
    args: [BIN, 'cache', 'add', 'docker.io'],
    materialBefore: true,
    group: [F.registriesYaml],
    added: [
      CACHES_FILE,
      `${CONTAINERD_HOSTS_DIR}/docker.io/hosts.toml`,
      `${CONTAINERD_HOSTS_DIR}/container-registry.local:5100/hosts.toml`,
    ],
    newMaterialProblem: (dir) => {
      const mirror = parseRegistriesYaml(fs.readFileSync(path.join(dir, F.registriesYaml), 'utf8')).mirrors?.[
        'docker.io'
      ];
      return expect(
        JSON.stringify(mirror?.endpoint) === JSON.stringify(['https://container-registry.local:5100']),
        'registries.yaml does not mirror docker.io to the cache',
      );
    },
  },
  {
    name: 'first synth',
    args: [SYNTH_APP],
    materialBefore: false,
    group: [],
    newMaterialProblem: (dir) => expect(nodeUser(dir) === 'registry', 'the nodes do not pull as registry'),
  },
];

export type Verdict = { readonly state: 'old' | 'new' | 'inconsistent'; readonly problems: readonly string[] };

/**
 * After a kill and the next command: the old material (the bytes of `before`, or no directory when there
 * was none) or the new one (the group all changed, whole, as the command makes it), backups equal to the
 * old material, and nothing left over.
 */
export function judge(scenario: Scenario, cwd: string, before: Record<string, string>): Verdict {
  const dir = path.join(cwd, MATERIAL);
  const problems: string[] = leftoversAfterRecovery(cwd).map((file) => `left over: ${path.relative(cwd, file)}`);
  for (const backup of backups(cwd)) {
    if (JSON.stringify(fileHashes(backup)) !== JSON.stringify(before))
      problems.push(`${path.basename(backup)} is not a copy of the old material`);
  }
  let state: Verdict['state'];
  if (!fs.existsSync(dir)) {
    state = scenario.materialBefore ? 'inconsistent' : 'old';
    if (scenario.materialBefore) problems.push('the material directory is gone');
  } else {
    const now = fileHashes(dir);
    const added = scenario.added ?? [];
    const present = added.filter((file) => file in now);
    // Present added files count as changed members of the group; the rest of the file set must not move.
    const sameFiles =
      JSON.stringify(
        Object.keys(now)
          .filter((file) => !added.includes(file))
          .sort(),
      ) === JSON.stringify(Object.keys(before).sort());
    const group = [...scenario.group, ...added];
    const changed = [...scenario.group.filter((file) => now[file] !== before[file]), ...present];
    const others = Object.keys(before).filter((file) => !scenario.group.includes(file) && now[file] !== before[file]);
    if (!scenario.materialBefore) state = 'new';
    else if (!sameFiles) {
      state = 'inconsistent';
      problems.push(`the files are ${Object.keys(now).sort().join(', ')}`);
    } else if (others.length > 0) {
      state = 'inconsistent';
      problems.push(`changed outside the command's files: ${others.join(', ')}`);
    } else if (changed.length === 0) state = 'old';
    else if (changed.length === group.length) state = 'new';
    else {
      state = 'inconsistent';
      problems.push(`a mix: new ${changed.join(', ')}, old ${group.filter((f) => !changed.includes(f)).join(', ')}`);
    }
    problems.push(...wholeMaterialProblems(dir));
    if (state === 'new') {
      const problem = scenario.newMaterialProblem(dir);
      if (problem !== undefined) problems.push(problem);
      if (scenario.name === 'init --force' && backups(cwd).length !== 1)
        problems.push('the old material is not in a backup');
    }
  }
  return { state: problems.length > 0 ? 'inconsistent' : state, problems };
}

/** The commands run after a kill, in turn: each must finish or remove what the kill left. */
const NEXT_COMMANDS: readonly (readonly string[])[] = [
  [BIN, 'user', 'list'],
  [BIN, 'certs', 'show'],
  [BIN, 'doctor', '--dist', 'no-dist'],
  [SYNTH_APP],
];
let nextIndex = 0;

/**
 * Runs the next command (any of them, in turn) and returns its name. A synth after a killed init --force
 * must roll it forward, never make brand-new material; where there was no material, a synth would rightly
 * make some, so it is not the next command there.
 */
export async function runNextCommand(scenario: Scenario, cwd: string): Promise<string> {
  const choices = scenario.materialBefore ? NEXT_COMMANDS : NEXT_COMMANDS.filter((args) => args[0] !== SYNTH_APP);
  const args = choices[nextIndex++ % choices.length];
  await runNode(cwd, args);
  return args[0] === SYNTH_APP ? 'synth' : args.slice(1).join(' ');
}
