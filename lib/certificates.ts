import { type KeyObject, X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';
import type * as Forge from 'node-forge';
import { CLUSTER_DOMAIN } from './defaults';
import { ValidationError, assertIntegerInRange } from './validate';

/** A certificate and its private key, both PEM. */
export interface CertificateAndKey {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** The names a certificate is valid for: DNS names and IP addresses. */
export interface SubjectAltNames {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/** Options of createCertificateAuthority. */
export interface CertificateAuthorityOptions {
  /** @default 'cdk8s-private-registry CA' */
  readonly commonName?: string;
  /** @default 3650 */
  readonly validityDays?: number;
  /** @default 2048 */
  readonly keySizeBits?: number;
  /** @default - the current time */
  readonly now?: Date;
}

/** Options of createServerCertificate: the CA that signs and the names the certificate carries. */
export interface ServerCertificateOptions {
  readonly ca: CertificateAndKey;
  readonly subjectAltNames: SubjectAltNames;
  /** @default 825, the longest validity Apple platforms accept for a TLS server certificate */
  readonly validityDays?: number;
  /** @default 2048 */
  readonly keySizeBits?: number;
  /** @default - the current time */
  readonly now?: Date;
}

/** What `certs show` and doctor report about a certificate. */
export interface CertificateSummary {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly isCertificateAuthority: boolean;
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly daysLeft: number;
  readonly sha256Fingerprint: string;
}

/** The CA lives ten years: replacing it means giving every node and desktop the new one. */
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
/** The longest validity Apple platforms accept for a TLS server certificate. */
export const DEFAULT_CERT_VALIDITY_DAYS = 825;
const DAY_MS = 24 * 60 * 60 * 1000;
// Tolerate a node clock that is a little behind the desktop that made the certificate.
const CLOCK_SKEW_MS = 5 * 60 * 1000;

/**
 * Every name a client uses for the registry. Go clients (containerd, k3s, skopeo) ignore the Common
 * Name, so each of these must be a subjectAltName.
 */
export function registrySubjectAltNames(hostname: string, serviceName: string, namespace: string): SubjectAltNames {
  const service = [
    serviceName,
    `${serviceName}.${namespace}`,
    `${serviceName}.${namespace}.svc`,
    `${serviceName}.${namespace}.svc.${CLUSTER_DOMAIN}`,
  ];
  return { dnsNames: unique([hostname, 'localhost', ...service]), ipAddresses: ['127.0.0.1'] };
}

/** The names of `required` that `certificate` does not carry as subjectAltNames, DNS names first. */
export function missingSubjectAltNames(certificate: SubjectAltNames, required: SubjectAltNames): string[] {
  return [
    ...required.dnsNames.filter((name) => !certificate.dnsNames.includes(name)),
    ...required.ipAddresses.filter((ip) => !certificate.ipAddresses.includes(ip)),
  ];
}

/** A new self-signed CA (RSA, SHA-256) that may sign server certificates only (pathLenConstraint 0). */
export function createCertificateAuthority(options: CertificateAuthorityOptions = {}): CertificateAndKey {
  const validityDays = options.validityDays ?? DEFAULT_CA_VALIDITY_DAYS;
  assertIntegerInRange('caValidityDays', validityDays, 1, 36500, 'give the CA lifetime in days');
  const keys = generateKeys(options.keySizeBits);
  const subject = [{ name: 'commonName', value: options.commonName ?? 'cdk8s-private-registry CA' }];
  const cert = newCertificate(keys.publicKeyPem, subject, subject, validityDays, options.now);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return { certificatePem: signCertificate(cert, keys.privateKeyPem), privateKeyPem: keys.privateKeyPem };
}

/** A server certificate signed by `options.ca`, carrying every name in `options.subjectAltNames`. */
export function createServerCertificate(options: ServerCertificateOptions): CertificateAndKey {
  const validityDays = options.validityDays ?? DEFAULT_CERT_VALIDITY_DAYS;
  assertIntegerInRange('certValidityDays', validityDays, 1, 3650, 'give the server certificate lifetime in days');
  const { dnsNames, ipAddresses } = options.subjectAltNames;
  if (dnsNames.length === 0)
    throw new ValidationError(
      `'subjectAltNames.dnsNames' must name at least one host, got []: add the registry hostname`,
    );
  const badIp = ipAddresses.find((ip) => isIP(ip) === 0);
  if (badIp !== undefined)
    throw new ValidationError(
      `'subjectAltNames.ipAddresses' must hold IP addresses, got ${JSON.stringify(badIp)}: move host names to dnsNames`,
    );
  // node-forge builds the X.509 structure (it needs the CA's subject and key identifier in its own form);
  // Node checks the CA key and signs.
  parseCertificate(options.ca.certificatePem, 'CA certificate');
  const caKey = parsePrivateKey(options.ca.privateKeyPem, 'CA private key');
  const caCert = forge().pki.certificateFromPem(options.ca.certificatePem);
  const keys = generateKeys(options.keySizeBits);
  const cert = newCertificate(
    keys.publicKeyPem,
    [{ name: 'commonName', value: dnsNames[0] }],
    caCert.subject.attributes,
    validityDays,
    options.now,
  );
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...dnsNames.map((value) => ({ type: 2, value })), ...ipAddresses.map((ip) => ({ type: 7, ip }))],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  return { certificatePem: signCertificate(cert, caKey), privateKeyPem: keys.privateKeyPem };
}

/** Subject, issuer, names, validity and fingerprint of a PEM certificate; `source` names it in errors. */
export function describeCertificate(pem: string, now: Date = new Date(), source = 'certificate'): CertificateSummary {
  const cert = parseCertificate(pem, source);
  const altNames = subjectAltNamesOf(cert);
  const notAfter = new Date(cert.validTo);
  return {
    subject: distinguishedName(cert.subject),
    issuer: distinguishedName(cert.issuer),
    serialNumber: cert.serialNumber.toLowerCase(),
    isCertificateAuthority: cert.ca,
    dnsNames: altNames.filter((name) => name.type === 'DNS').map((name) => name.value),
    ipAddresses: altNames.filter((name) => name.type === 'IP Address').map((name) => name.value),
    notBefore: new Date(cert.validFrom),
    notAfter,
    daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS),
    sha256Fingerprint: cert.fingerprint256,
  };
}

/** True when `caPem` signed `certificatePem`. */
export function isIssuedBy(certificatePem: string, caPem: string): boolean {
  try {
    return isSignedBy(parseCertificate(certificatePem, 'certificate'), parseCertificate(caPem, 'CA certificate'));
  } catch {
    return false;
  }
}

/** isIssuedBy for certificates already parsed: the issuer name matches the CA's subject and the CA's key signed it. */
export function isSignedBy(certificate: X509Certificate, ca: X509Certificate): boolean {
  return certificate.checkIssued(ca) && certificate.verify(ca.publicKey);
}

/** True when the private key belongs to the certificate's public key. */
export function keyMatchesCertificate(certificatePem: string, privateKeyPem: string): boolean {
  return parseCertificate(certificatePem, 'certificate').checkPrivateKey(parsePrivateKey(privateKeyPem, 'private key'));
}

/** The certificate in `pem`, or a ValidationError naming `source` and the fix. Parsed and checked by Node (OpenSSL). */
export function parseCertificate(pem: string, source: string): X509Certificate {
  let cert: X509Certificate;
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no "BEGIN CERTIFICATE" line');
    cert = new X509Certificate(pem);
  } catch (error) {
    throw new ValidationError(
      `${source} is not a PEM X.509 RSA certificate (${(error as Error).message}): restore it or create new material`,
    );
  }
  const keyType = cert.publicKey.asymmetricKeyType;
  if (keyType !== 'rsa') {
    throw new ValidationError(
      `${source} is not a PEM X.509 RSA certificate (its key is ${keyType}): restore it or create new material`,
    );
  }
  return cert;
}

/** The RSA private key in `pem`, or a ValidationError naming `source` and the fix. */
export function parsePrivateKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    if (!pem.includes('PRIVATE KEY-----')) throw new Error('no "BEGIN ... PRIVATE KEY" line');
    key = createPrivateKey(pem);
  } catch (error) {
    throw new ValidationError(
      `${source} is not a PEM RSA private key (${(error as Error).message}): restore it or create new material`,
    );
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new ValidationError(
      `${source} is not a PEM RSA private key (it is ${key.asymmetricKeyType}): restore it or create new material`,
    );
  }
  return key;
}

/** node-forge, loaded only when a certificate is made: it is the slowest module this package loads. */
function forge(): typeof Forge {
  return require('node-forge') as typeof Forge;
}

function generateKeys(keySizeBits = 2048): { publicKeyPem: string; privateKeyPem: string } {
  if (![2048, 3072, 4096].includes(keySizeBits)) {
    throw new ValidationError(
      `'keySizeBits' must be 2048, 3072 or 4096, got ${keySizeBits}: pick one of those RSA sizes`,
    );
  }
  // Native, and written as PKCS#1 ("BEGIN RSA PRIVATE KEY"), the form node-forge wrote before.
  const keys = generateKeyPairSync('rsa', {
    modulusLength: keySizeBits,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { publicKeyPem: keys.publicKey, privateKeyPem: keys.privateKey };
}

function newCertificate(
  publicKeyPem: string,
  subject: Forge.pki.CertificateField[],
  issuer: Forge.pki.CertificateField[],
  validityDays: number,
  now: Date = new Date(),
): Forge.pki.Certificate {
  const cert = forge().pki.createCertificate();
  cert.publicKey = forge().pki.publicKeyFromPem(publicKeyPem);
  // A positive 128-bit serial: the high bit clear keeps the DER integer positive.
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  cert.validity.notAfter = new Date(now.getTime() + validityDays * DAY_MS);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  return cert;
}

/**
 * Signs `cert` with SHA-256 RSA (PKCS#1 v1.5, what node-forge's own `sign` makes) and returns it as PEM.
 * node-forge's RSA signature is pure JavaScript (70-140 ms); Node's takes about a millisecond.
 */
function signCertificate(cert: Forge.pki.Certificate, signingKey: string | KeyObject): string {
  const { pki, asn1 } = forge();
  // getTBSCertificate is public in node-forge but missing from its type definitions.
  const { getTBSCertificate } = pki as unknown as { getTBSCertificate(cert: Forge.pki.Certificate): Forge.asn1.Asn1 };
  cert.signatureOid = pki.oids.sha256WithRSAEncryption;
  cert.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption;
  const tbsCertificate = getTBSCertificate(cert);
  const tbsDer = Buffer.from(asn1.toDer(tbsCertificate).getBytes(), 'binary');
  cert.tbsCertificate = tbsCertificate;
  cert.signature = sign('sha256', tbsDer, signingKey).toString('binary');
  // node-forge writes CRLF line ends; files and Secrets read better with LF.
  return pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

/** The subjectAltName entries as Node prints them: "DNS:a, IP Address:127.0.0.1". */
function subjectAltNamesOf(cert: X509Certificate): { type: string; value: string }[] {
  const text = cert.subjectAltName;
  if (text === undefined) return [];
  return text.split(', ').map((entry) => {
    const colon = entry.indexOf(':');
    return { type: entry.slice(0, colon), value: entry.slice(colon + 1) };
  });
}

/** "CN=a\nO=b" (Node's form) as "CN=a, O=b". */
function distinguishedName(name: string): string {
  return name.split('\n').join(', ');
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
