import fs from 'node:fs';
import path from 'node:path';
import { PUBLIC_FILE_MODE, writeFileAtomic } from './atomic-file';
import { tomlString } from './containerd-hosts';
import { ValidationError } from './validate';

/** One file a desktop client reads to trust the registry's CA. */
export interface TrustFile {
  /** Who reads it, e.g. "Docker". */
  readonly client: string;
  /** Absolute, as the client sees it (before any `root` prefix). */
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  /** What to know about this client. */
  readonly note?: string;
}

/** What writeTrustFiles did with one file. */
export interface TrustWriteResult {
  /** Where the file went: `root` joined with the file's path. */
  readonly path: string;
  readonly written: boolean;
  /** Why it was not written. */
  readonly error?: string;
}

/**
 * The system-wide files through which Docker, Podman/Skopeo/Buildah and containerd trust our CA for
 * `registryHost` (e.g. localhost:31113). Each client looks in its own certs.d directory, named by host:port.
 */
export function desktopTrustFiles(caCertificatePem: string, registryHost: string): TrustFile[] {
  const containerdDir = `/etc/containerd/certs.d/${registryHost}`;
  return [
    {
      client: 'Docker',
      path: `/etc/docker/certs.d/${registryHost}/ca.crt`,
      content: caCertificatePem,
      mode: PUBLIC_FILE_MODE,
      note: `Docker treats 127.0.0.0/8 as an insecure registry by default, so it talks to ${registryHost} without verifying the certificate; the file makes other names (a LAN IP, container-registry.local) verify. Docker Desktop: ~/.docker/certs.d/${registryHost}/ca.crt`,
    },
    {
      client: 'Podman, Skopeo, Buildah',
      path: `/etc/containers/certs.d/${registryHost}/ca.crt`,
      content: caCertificatePem,
      mode: PUBLIC_FILE_MODE,
      note: `rootless: ~/.config/containers/certs.d/${registryHost}/ca.crt`,
    },
    {
      client: 'containerd (ctr, nerdctl)',
      path: `${containerdDir}/ca.crt`,
      content: caCertificatePem,
      mode: PUBLIC_FILE_MODE,
    },
    {
      client: 'containerd (ctr, nerdctl)',
      path: `${containerdDir}/hosts.toml`,
      content: containerdHostsToml(registryHost, 'ca.crt'),
      mode: PUBLIC_FILE_MODE,
      note: "read when containerd's registry config_path is /etc/containerd/certs.d (nerdctl's default; ctr: --hosts-dir /etc/containerd/certs.d)",
    },
  ];
}

/**
 * A hosts.toml for pushing to and pulling from `https://<registryHost>`. The explicit https server matters:
 * containerd would otherwise default a localhost host on a port other than 443 to plain http. (That is
 * why this is not containerdHostsFiles(): by the k3s rules a localhost mirror gets an http `server`, and
 * mirror endpoints may only pull, while the desktop pushes.) A relative
 * `caFile` is read from the hosts.toml's own directory (containerd joins it), so the directory works
 * wherever it is copied or mounted.
 */
export function containerdHostsToml(registryHost: string, caFile: string): string {
  const url = `https://${registryHost}`;
  return [
    '# Written by private-registry trust: containerd verifies the registry with our CA.',
    `server = ${tomlString(url)}`,
    '',
    `[host.${tomlString(url)}]`,
    '  capabilities = ["pull", "resolve", "push"]',
    `  ca = ${tomlString(caFile)}`,
    '',
  ].join('\n');
}

/**
 * Writes each file under `root` (atomically, parents created 0755), going on past the ones it cannot
 * write (typically: not root) and reporting each.
 */
export function writeTrustFiles(files: readonly TrustFile[], root = '/'): TrustWriteResult[] {
  // Under another root (an image being built, a test), a link inside it would lead the files out of it.
  if (path.resolve(root) !== '/') for (const file of files) assertNoLinkUnder(root, file.path);
  return files.map((file) => {
    const target = path.join(root, file.path);
    try {
      fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
      writeFileAtomic(target, file.content, file.mode);
      return { path: target, written: true };
    } catch (error) {
      return { path: target, written: false, error: (error as Error).message };
    }
  });
}

/** Refuses when a directory or file on the way from `root` to `root`/`file` is a symbolic link. */
function assertNoLinkUnder(root: string, file: string): void {
  let current = root;
  for (const part of file.split('/').filter((segment) => segment !== '')) {
    current = path.join(current, part);
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(current);
    } catch {
      return; // Not there (or under a file): writing reports it, and nothing beyond can be a link.
    }
    if (stat.isSymbolicLink()) {
      throw new ValidationError(
        `'root' ${root} holds a symbolic link, ${current} -> ${fs.readlinkSync(current)}: writing through it could put files outside ${root}; remove the link, or pick another root`,
      );
    }
  }
}
