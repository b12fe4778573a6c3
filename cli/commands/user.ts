import path from 'node:path';
import { MATERIAL_FILES } from '../../lib/material-files';
import { addMaterialUser, listMaterialUsers, removeMaterialUser, verifyMaterialUser } from '../../lib/material-users';
import { withMaterial } from '../command';
import type { CommandBody } from '../command-line';
import { applyCommandFor, withFlagNames } from '../flags';
import { type CliIo, EXIT_CHECK_FAILED, EXIT_OK, type ExitCode, readPasswordFromStdin } from '../io';

export interface UserAddArgs {
  readonly dir: string;
  readonly name: string;
  readonly passwordStdin: boolean;
}

export interface UserRemoveArgs {
  readonly dir: string;
  readonly name: string;
  readonly nodeUser?: string;
  readonly passwordStdin?: boolean;
}

export interface UserListArgs {
  readonly dir: string;
}

export interface UserVerifyArgs {
  readonly dir: string;
  readonly name: string;
}

const FLAGS = {
  username: 'NAME',
  password: 'the password read by --password-stdin',
  nodeUser: '--node-user OTHER',
  'nodeUser.password': "OTHER's password on stdin (--password-stdin)",
};

/** Adds a user; a generated password is printed once, on stdout, and stored nowhere else. */
export async function userAdd(args: UserAddArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const password = args.passwordStdin ? await readPasswordFromStdin(io) : undefined;
    const added = withMaterial(args.dir, io, () => addMaterialUser(args.dir, args.name, { password }));
    if (added.generated) io.stdout.write(`${added.password}\n`);
    io.stderr.write(
      `added "${args.name}" to ${path.join(args.dir, MATERIAL_FILES.htpasswd)}${added.generated ? '; its password (above) is shown only this once' : ''}\n` +
        `the registry learns it from its Secret: ${applyCommandFor(args.dir, io)}\n`,
    );
    return EXIT_OK;
  });
}

/** Removes a user; the nodes' own user only together with --node-user naming the one they switch to. */
export async function userRemove(args: UserRemoveArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const nodeUser =
      args.nodeUser === undefined ? undefined : { username: args.nodeUser, password: await readPasswordFromStdin(io) };
    const { nodeUserChanged } = withMaterial(args.dir, io, () => removeMaterialUser(args.dir, args.name, { nodeUser }));
    io.stderr.write(
      `removed "${args.name}" from ${path.join(args.dir, MATERIAL_FILES.htpasswd)}; the registry forgets it once you apply: ${applyCommandFor(args.dir, io)}\n`,
    );
    if (nodeUserChanged) {
      io.stderr.write(
        `the nodes now pull as "${args.nodeUser}" (${path.join(args.dir, MATERIAL_FILES.registriesYaml)}); k3s reads it at start: restart the nodes (k3d cluster stop NAME && k3d cluster start NAME)\n`,
      );
    }
    return EXIT_OK;
  });
}

/** One user name per line on stdout; which one the nodes use goes to stderr. */
export async function userList(args: UserListArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const users = withMaterial(args.dir, io, () => listMaterialUsers(args.dir), { reader: true });
    for (const user of users) io.stdout.write(`${user.username}\n`);
    const nodeUser = users.find((user) => user.isNodeUser);
    if (nodeUser !== undefined)
      io.stderr.write(
        `the nodes pull as "${nodeUser.username}" (${path.join(args.dir, MATERIAL_FILES.registriesYaml)})\n`,
      );
    return EXIT_OK;
  });
}

/** Exit 0 when the password on stdin is the user's, 1 when it is not. */
export async function userVerify(args: UserVerifyArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const password = await readPasswordFromStdin(io);
    if (withMaterial(args.dir, io, () => verifyMaterialUser(args.dir, args.name, password), { reader: true })) {
      io.stderr.write(`the password matches "${args.name}" in ${path.join(args.dir, MATERIAL_FILES.htpasswd)}\n`);
      return EXIT_OK;
    }
    io.stderr.write(`the password does not match "${args.name}" in ${path.join(args.dir, MATERIAL_FILES.htpasswd)}\n`);
    return EXIT_CHECK_FAILED;
  });
}

const NAME_ARGUMENT = { name: 'name', describe: 'User name (no ":" or whitespace)' };

export const userCommand: CommandBody = {
  subcommands: [
    {
      name: 'add',
      describe: 'Add a user; prints a random password once unless --password-stdin',
      positionals: [NAME_ARGUMENT],
      flags: { 'password-stdin': { type: 'boolean', default: false, describe: 'Read the password from stdin' } },
      // A plain `>` would leave the password in a file everyone can read.
      epilog:
        'To keep the printed password in a file only you can read:\n  (umask 077; $0 user add ci > ci-password.txt)',
      run: userAdd,
    },
    {
      name: 'remove',
      describe: "Remove a user (the nodes' user only with --node-user)",
      positionals: [NAME_ARGUMENT],
      flags: {
        'node-user': {
          type: 'string',
          implies: 'password-stdin',
          describe: 'Switch the nodes to this existing user (its password on stdin)',
        },
        'password-stdin': { type: 'boolean', describe: "Read --node-user's password from stdin" },
      },
      run: userRemove,
    },
    { name: 'list', describe: 'List the users, one per line', run: userList },
    {
      name: 'verify',
      describe: 'Check a password (on stdin): exit 0 if it matches, 1 if not',
      positionals: [NAME_ARGUMENT],
      flags: { 'password-stdin': { type: 'boolean', required: true, describe: 'Read the password from stdin' } },
      run: userVerify,
    },
  ],
};
