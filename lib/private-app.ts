import fs from 'node:fs';
import { App } from 'cdk8s';

/** What no one but the owner may do to the synthesized manifests: the group's and others' bits. */
const NOT_OWNER = 0o077;

/**
 * A cdk8s App whose manifests are readable by you only, from their first byte: RegistryChart's and
 * RegistryServer's hold the TLS key and the htpasswd. `synth()` makes the output directory 0700 before
 * writing anything into it and writes under umask 077, so every file it creates is 0600 and every
 * directory 0700. Use it wherever you would use `App`.
 *
 * A chmod after synth is too late: another local user can open a 0644 file in that window, and keeps
 * reading through the open file. cdk8s's `App.synth()` writes with `fs.writeFileSync`, whose files take
 * their mode from the umask when created and keep it when overwritten, hence both measures: the private
 * directory also covers a manifest an earlier, plain synth left 0644.
 */
export class PrivateApp extends App {
  /** Synthesizes every chart into `outdir`, readable by the owner only. */
  public override synth(): void {
    fs.mkdirSync(this.outdir, { recursive: true, mode: 0o700 });
    const mode = fs.statSync(this.outdir).mode & 0o777;
    if ((mode & NOT_OWNER) !== 0) fs.chmodSync(this.outdir, mode & ~NOT_OWNER);
    let previous: number;
    try {
      previous = process.umask(NOT_OWNER);
    } catch (error) {
      // A worker thread may not set the umask (Node refuses): its files take the process's umask, inside the
      // private directory. (Asking node:worker_threads instead costs every synth a module load.)
      if ((error as NodeJS.ErrnoException).code !== 'ERR_WORKER_UNSUPPORTED_OPERATION') throw error;
      super.synth();
      return;
    }
    process.umask(previous | NOT_OWNER); // never looser than the umask it replaces
    try {
      super.synth();
    } finally {
      process.umask(previous);
    }
  }
}
