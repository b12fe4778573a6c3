import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_CA_VALIDITY_DAYS, DEFAULT_CERT_VALIDITY_DAYS } from '../../lib/certificates';
import { DEFAULT_NODE_PORT, DEFAULT_REGISTRY_HOSTNAME, DEFAULT_USERNAME } from '../../lib/defaults';
import { MATERIAL_FILES, assertMaterialPath, generateMaterial, writeNewMaterial } from '../../lib/material';
import { backupPathFor } from '../../lib/material-dir';
import { underMaterialLock } from '../../lib/material-transaction';
import { ValidationError } from '../../lib/validate';
import type { CommandBody } from '../command-line';
import { applyCommandFor, dirFlag, withFlagNames } from '../flags';
import { type CliIo, EXIT_OK, type ExitCode, readPasswordFromStdin, reportRecovered } from '../io';

export interface InitArgs {
  readonly dir: string;
  readonly hostname: string;
  readonly nodePort: number;
  readonly user: string;
  readonly passwordStdin: boolean;
  readonly caDays: number;
  readonly certDays?: number;
  readonly force: boolean;
  /** Upstreams to cache from the start (--cache, repeatable). */
  readonly cache?: readonly string[];
}

const FLAGS = {
  hostname: '--hostname',
  nodePort: '--node-port',
  username: '--user',
  password: 'the password read by --password-stdin',
  caValidityDays: '--ca-days',
  certValidityDays: '--cert-days',
  upstream: '--cache',
};

/** Creates the material directory exactly as the first synth would; --force keeps the old one as a backup. */
export async function init(args: InitArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    assertMaterialPath(args.dir);
    if (fs.existsSync(args.dir)) {
      if (!args.force) throw alreadyExists(args.dir);
      // --force moves material aside, never some other directory a mistyped --dir names.
      const isMaterial = Object.values(MATERIAL_FILES).some((file) => fs.existsSync(path.join(args.dir, file)));
      if (fs.readdirSync(args.dir).length > 0 && !isMaterial) {
        throw new ValidationError(
          `${args.dir} holds no material (none of ${Object.values(MATERIAL_FILES).join(', ')}), so --force will not move it aside: check --dir, or remove the directory yourself`,
        );
      }
    }
    const password = args.passwordStdin ? await readPasswordFromStdin(io) : undefined;
    // One writer at a time: another init, or a synth creating the material, may have come first.
    underMaterialLock(
      args.dir,
      (recovered) => {
        reportRecovered(recovered, io);
        if (fs.existsSync(args.dir) && !args.force) throw alreadyExists(args.dir);
        // Everything is validated and generated before the old material is touched.
        const material = generateMaterial({
          hostname: args.hostname,
          nodePort: args.nodePort,
          username: args.user,
          password,
          caValidityDays: args.caDays,
          certValidityDays: args.certDays,
          caches: (args.cache ?? []).map((upstream) => ({ upstream })),
          now: io.now(),
        });
        // The old directory goes to the backup and the new one in its place as one transaction.
        const backup = writeNewMaterial(args.dir, material, (dir) => backupPathFor(dir, io.now()));
        if (backup !== undefined) io.stderr.write(`moved the old material to ${backup}\n`);
      },
      { createParent: true },
    );

    const dir = dirFlag(args.dir, io);
    const user = args.user;
    io.stderr.write(
      [
        `created ${args.dir}/: CA, server certificate, htpasswd and registries.yaml for user "${user}"${(args.cache ?? []).length === 0 ? '' : `, pull-through caches of ${(args.cache ?? []).join(', ')}`}`,
        `the password of "${user}" is in ${args.dir}/${MATERIAL_FILES.password}${password === undefined ? ' (generated)' : ''}`,
        '',
        'next steps:',
        `  1. private-registry k3d-config${dir} --out k3d.yaml && k3d cluster create --config k3d.yaml`,
        `  2. ${applyCommandFor(args.dir, io)}`,
        `  3. private-registry trust${dir}    (how this machine trusts the CA)`,
        `  4. docker login localhost:${args.nodePort} -u ${user} --password-stdin < ${args.dir}/${MATERIAL_FILES.password}`,
        `  5. private-registry doctor${dir} --live`,
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  });
}

function alreadyExists(dir: string): ValidationError {
  return new ValidationError(
    `${dir} already exists: keep it (private-registry doctor checks it), or pass --force to move it to a timestamped backup and create new material`,
  );
}

export const initCommand: CommandBody = {
  flags: {
    hostname: {
      type: 'string',
      default: DEFAULT_REGISTRY_HOSTNAME,
      describe: 'Name the nodes use for the registry (a certificate SAN)',
    },
    'node-port': {
      type: 'number',
      default: DEFAULT_NODE_PORT,
      describe: 'NodePort the desktop pushes to as localhost:<port>',
    },
    user: { type: 'string', default: DEFAULT_USERNAME, describe: 'User the nodes pull with' },
    'password-stdin': {
      type: 'boolean',
      default: false,
      describe: "Read the user's password from stdin (default: a random one)",
    },
    'ca-days': { type: 'number', default: DEFAULT_CA_VALIDITY_DAYS, describe: 'CA lifetime in days' },
    'cert-days': {
      type: 'number',
      describe: `Server certificate lifetime in days (default ${DEFAULT_CERT_VALIDITY_DAYS}, or up to the CA's end if sooner; never past it)`,
    },
    force: { type: 'boolean', default: false, describe: 'Move existing material to <dir>.backup-<UTC time> first' },
    cache: {
      type: 'string',
      repeatable: true,
      describe:
        'Pull this upstream through a cache (docker.io, ghcr.io, quay.io, registry.k8s.io or https://...); repeatable (default: none)',
    },
  },
  run: init,
};
