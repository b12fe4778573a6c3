import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseHtpasswd, verifyPassword } from '../../lib/htpasswd';
import { MATERIAL_FILES } from '../../lib/material';
import { reportFigures } from './report';
import {
  MATERIAL,
  PASSWORDS,
  SYNTH_APP,
  cli,
  leftoversAfterRecovery,
  materialTemplate,
  runNode,
  trialDir,
  wholeMaterialProblems,
} from './support';

const ROUNDS = 50;

/** The TLS Secret's certificate, key and CA as synth wrote them into dist/. */
function distTlsSecret(cwd: string): { crt: string; key: string; ca: string } {
  const documents = yaml.loadAll(fs.readFileSync(path.join(cwd, 'dist/container-registry.k8s.yaml'), 'utf8')) as {
    kind: string;
    data?: Record<string, string>;
  }[];
  const secret = documents.find((doc) => doc.kind === 'Secret' && doc.data?.['tls.key'] !== undefined);
  const decode = (name: string) => Buffer.from(secret?.data?.[name] ?? '', 'base64').toString('utf8');
  return { crt: decode('tls.crt'), key: decode('tls.key'), ca: decode('ca.crt') };
}

describe('one writer at a time', () => {
  let template: ReturnType<typeof materialTemplate>;
  beforeAll(() => {
    template = materialTemplate();
  });

  it(`two concurrent user add, ${ROUNDS} rounds: both exit 0 and both users are in htpasswd`, async () => {
    const started = Date.now();
    let lost = 0;
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const cwd = trialDir();
      template.copyTo(cwd);
      const names = [`carol${round}`, `dave${round}`];
      const results = await Promise.all(names.map((name) => cli(cwd, ['user', 'add', name])));
      const entries = parseHtpasswd(fs.readFileSync(path.join(cwd, MATERIAL, MATERIAL_FILES.htpasswd), 'utf8'));
      names.forEach((name, index) => {
        const { code, stdout, stderr } = results[index];
        // The generated password was printed as "shown only this once": it must be the one stored.
        if (code !== 0 || !verifyPassword(entries, name, stdout.trim())) {
          lost++;
          failures.push(`round ${round}: ${name} exit ${code} ${stderr.trim()}`);
        }
      });
      for (const [name, password] of Object.entries({ registry: PASSWORDS.registry, alice: PASSWORDS.alice }))
        if (!verifyPassword(entries, name, password)) failures.push(`round ${round}: ${name} was lost`);
      const problems = [...wholeMaterialProblems(path.join(cwd, MATERIAL)), ...leftoversAfterRecovery(cwd)];
      if (problems.length > 0) failures.push(`round ${round}: ${problems.join('; ')}`);
      fs.rmSync(cwd, { recursive: true, force: true });
    }
    reportFigures('concurrent user add', { rounds: ROUNDS, users: 2 * ROUNDS, lost, ms: Date.now() - started });
    expect(failures).toEqual([]);
  });

  it(`a synth racing certs renew (--rotate-ca every other round), ${ROUNDS} rounds: never fails, never a mixed pair`, async () => {
    const started = Date.now();
    const reads = { old: 0, new: 0 };
    const failures: string[] = [];
    let renewMs = 1000;
    let synthMs = 1000;
    for (let round = 0; round < ROUNDS; round++) {
      const cwd = trialDir();
      template.copyTo(cwd);
      const dir = path.join(cwd, MATERIAL);
      const read = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8');
      const old = {
        crt: read(MATERIAL_FILES.tlsCertificate),
        key: read(MATERIAL_FILES.tlsKey),
        ca: read(MATERIAL_FILES.caCertificate),
      };
      // Either starts first, the other anywhere within it, so they meet in every phase.
      const synthFirst = round % 4 < 2;
      const later = () =>
        new Promise((resolve) => setTimeout(resolve, Math.random() * (synthFirst ? synthMs : renewMs)));
      const renewArgs = ['certs', 'renew', ...(round % 2 === 1 ? ['--rotate-ca'] : [])];
      const [synth, renewed] = synthFirst
        ? await Promise.all([runNode(cwd, [SYNTH_APP]), later().then(() => cli(cwd, renewArgs))])
        : await Promise.all([later().then(() => runNode(cwd, [SYNTH_APP])), cli(cwd, renewArgs)]);
      renewMs = renewed.ms;
      synthMs = synth.ms;
      const fresh = {
        crt: read(MATERIAL_FILES.tlsCertificate),
        key: read(MATERIAL_FILES.tlsKey),
        ca: read(MATERIAL_FILES.caCertificate),
      };
      if (renewed.code !== 0) failures.push(`round ${round}: renew exit ${renewed.code}: ${renewed.stderr}`);
      if (synth.code !== 0) failures.push(`round ${round}: synth exit ${synth.code}: ${synth.stderr}`);
      else {
        const deployed = JSON.stringify(distTlsSecret(cwd));
        if (deployed === JSON.stringify(old)) reads.old++;
        else if (deployed === JSON.stringify(fresh)) reads.new++;
        else failures.push(`round ${round}: dist holds a mix of the old and the renewed certificate, key and CA`);
      }
      fs.rmSync(cwd, { recursive: true, force: true });
    }
    reportFigures('synth racing certs renew', { rounds: ROUNDS, ...reads, ms: Date.now() - started });
    expect(failures).toEqual([]);
    // Both orders happened: the race was real.
    expect(reads.old).toBeGreaterThan(0);
    expect(reads.new).toBeGreaterThan(0);
  });
});
