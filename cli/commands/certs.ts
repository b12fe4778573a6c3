import { type CertificateSummary, DEFAULT_CA_VALIDITY_DAYS, DEFAULT_CERT_VALIDITY_DAYS } from '../../lib/certificates';
import { EXPIRY_WARNING_DAYS, describeMaterialCertificates, renewCertificates } from '../../lib/material-certs';
import { withMaterial } from '../command';
import type { CommandBody } from '../command-line';
import { applyCommandFor, withFlagNames } from '../flags';
import { type CliIo, EXIT_OK, type ExitCode } from '../io';

export interface CertsShowArgs {
  readonly dir: string;
  readonly json: boolean;
}

export interface CertsRenewArgs {
  readonly dir: string;
  readonly rotateCa: boolean;
  readonly certDays?: number;
  readonly caDays?: number;
  readonly serviceName?: string;
  readonly namespace?: string;
}

const FLAGS = {
  certValidityDays: '--cert-days',
  caValidityDays: '--ca-days',
  rotateCa: '--rotate-ca',
  serviceName: '--service-name',
  namespace: '--namespace',
};

export async function certsShow(args: CertsShowArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const certificates = withMaterial(args.dir, io, () => describeMaterialCertificates(args.dir, io.now()), {
      reader: true,
    });
    if (args.json) {
      io.stdout.write(
        `${JSON.stringify(
          certificates.map(({ name, file, summary }) => ({ name, file, ...summary })),
          null,
          2,
        )}\n`,
      );
    } else {
      for (const { name, file, summary } of certificates) {
        const names = [...summary.dnsNames, ...summary.ipAddresses];
        io.stdout.write(
          [
            `${name}  ${file}`,
            `  subject     ${summary.subject}`,
            `  issuer      ${summary.issuer}`,
            `  names       ${names.length === 0 ? '-' : names.join(', ')}`,
            `  valid       ${isoSeconds(summary.notBefore)} to ${isoSeconds(summary.notAfter)} (${summary.daysLeft} days left)`,
            `  sha256      ${summary.sha256Fingerprint}`,
            '',
          ].join('\n'),
        );
      }
    }
    for (const { name, file, summary } of certificates) {
      if (summary.daysLeft < EXPIRY_WARNING_DAYS) {
        const renew = name === 'ca.crt' ? 'private-registry certs renew --rotate-ca' : 'private-registry certs renew';
        io.stderr.write(`warning: ${file} ${expiresIn(summary)}: ${renew}\n`);
      }
    }
    return EXIT_OK;
  });
}

/** A new server certificate from the same CA (nodes keep trusting it), or with --rotate-ca a new CA too. */
export async function certsRenew(args: CertsRenewArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const result = withMaterial(args.dir, io, () =>
      renewCertificates(args.dir, {
        rotateCa: args.rotateCa,
        certValidityDays: args.certDays,
        caValidityDays: args.caDays,
        serviceName: args.serviceName,
        namespace: args.namespace,
        now: io.now(),
      }),
    );
    io.stderr.write(`kept the old files in ${result.backupDir}\n`);
    if (result.rotatedCa)
      io.stderr.write(
        `new CA: ${result.ca.subject}, SHA-256 ${result.ca.sha256Fingerprint}, until ${isoSeconds(result.ca.notAfter)}\n`,
      );
    io.stderr.write(
      `new server certificate until ${isoSeconds(result.tls.notAfter)} for ${[...result.tls.dnsNames, ...result.tls.ipAddresses].join(', ')}\n`,
    );
    if (result.addedNames.length > 0)
      io.stderr.write(`added names the old certificate lacked: ${result.addedNames.join(', ')}\n`);
    // The Deployment's pod template carries the certificate's hash, so applying it rolls the pod.
    io.stderr.write(
      `the registry serves it once you apply it (the pod restarts by itself): ${applyCommandFor(args.dir, io)}\n`,
    );
    if (result.rotatedCa) {
      io.stderr.write(
        'warning: the CA changed, so everything that trusted the old one rejects the registry until it has the new one:\n' +
          '  - the nodes read /registry/certs/ca.crt through k3s at start: restart them (k3d cluster stop NAME && k3d cluster start NAME)\n' +
          '  - this machine: private-registry trust --write (as root)\n',
      );
    }
    return EXIT_OK;
  });
}

function expiresIn(summary: CertificateSummary): string {
  return summary.daysLeft < 0
    ? `expired on ${isoSeconds(summary.notAfter)}`
    : `expires in ${summary.daysLeft} days (${isoSeconds(summary.notAfter)})`;
}

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const certsCommand: CommandBody = {
  subcommands: [
    {
      name: 'show',
      describe: 'Subject, names, validity, days left and SHA-256 fingerprint of ca.crt and tls.crt',
      flags: { json: { type: 'boolean', default: false, describe: 'Print JSON' } },
      run: certsShow,
    },
    {
      name: 'renew',
      describe: 'New server certificate from the same CA (old files kept as a backup)',
      flags: {
        'rotate-ca': {
          type: 'boolean',
          default: false,
          describe: 'Make a new CA too (nodes and desktops must be given it)',
        },
        'cert-days': {
          type: 'number',
          describe: `Server certificate lifetime in days (default ${DEFAULT_CERT_VALIDITY_DAYS}, or up to the CA's end if sooner; never past it)`,
        },
        'ca-days': {
          type: 'number',
          describe: `New CA lifetime in days (with --rotate-ca; default ${DEFAULT_CA_VALIDITY_DAYS})`,
        },
        'service-name': {
          type: 'string',
          describe: 'The registry Service the certificate names (default container-registry)',
        },
        namespace: { type: 'string', describe: "That Service's namespace (default container-registry)" },
      },
      run: certsRenew,
    },
  ],
};
