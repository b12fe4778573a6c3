import { type KeyObject, X509Certificate, createPrivateKey, createPublicKey, randomBytes, sign } from 'node:crypto';
import type * as Forge from 'node-forge';
import { CLUSTER_DOMAIN } from './defaults';
import * as rsaKey from './rsa-key';
import { ValidationError, assertIntegerInRange, isIP } from './validate';

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
  /**
   * The CA's RSA key (PKCS#1 PEM) of `keySizeBits`, made ahead, e.g. by generateRsaPrivateKey while other work runs.
   * @default - a new key, made now
   */
  readonly privateKeyPem?: string;
  /** @default - the current time */
  readonly now?: Date;
  /**
   * The only names the CA may vouch for: written as critical X.509 nameConstraints (permitted subtrees),
   * so a certificate for any other name signed with the CA key is rejected by every verifier that
   * trusts the CA. IP addresses are permitted each on its own (/32).
   * @default - no constraints: the CA can vouch for any name
   */
  readonly permittedNames?: SubjectAltNames;
}

/** Options of createServerCertificate: the CA that signs and the names the certificate carries. */
export interface ServerCertificateOptions {
  readonly ca: CertificateAndKey;
  readonly subjectAltNames: SubjectAltNames;
  /**
   * Never past the CA's own end: a longer value is refused, since the certificate would stop verifying
   * when the CA expires anyway.
   * @default 825 (the longest validity Apple platforms accept for a TLS server certificate), or fewer
   * when the CA ends sooner: then the certificate ends with the CA
   */
  readonly validityDays?: number;
  /** @default 2048 */
  readonly keySizeBits?: number;
  /**
   * The certificate's RSA key (PKCS#1 PEM) of `keySizeBits`, made ahead (see generateRsaPrivateKey).
   * @default - a new key, made now
   */
  readonly privateKeyPem?: string;
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

/**
 * The names a registry's CA may vouch for: the registry's own (those of registrySubjectAltNames). Creation,
 * renewal and doctor all take them from here, so what the CA permits is what the registry needs.
 */
export function registryNameConstraints(hostname: string, serviceName: string, namespace: string): SubjectAltNames {
  return registrySubjectAltNames(hostname, serviceName, namespace);
}

/** The fix for a CA that cannot vouch for the registry's names: only a new CA changes its constraints. */
export const ROTATE_CA_COMMAND = 'private-registry certs renew --rotate-ca';

/**
 * Why the CA `caPem` cannot vouch for the registry `hostname`/`serviceName`/`namespace`, or undefined when it
 * can: its name constraints leave out a name the registry needs (the hostname or namespace changed since the
 * CA was made). A CA without constraints can vouch for anything (material made before they existed).
 */
export function caConstraintProblem(
  caPem: string,
  hostname: string,
  serviceName: string,
  namespace: string,
  source = 'CA certificate',
): string | undefined {
  const permitted = permittedNamesOf(caPem, source);
  if (permitted === undefined) return undefined;
  const outside = namesOutsideConstraints(registryNameConstraints(hostname, serviceName, namespace), permitted);
  if (outside.length === 0) return undefined;
  return `${source} may vouch only for ${[...permitted.dnsNames, ...permitted.ipAddresses].join(', ')} (its name constraints), not for ${outside.join(', ')}: a new hostname or namespace needs a new CA: ${ROTATE_CA_COMMAND}, then give the nodes and desktops the new ca.crt`;
}

/**
 * The names of `names` a CA permitting `permitted` may not vouch for (RFC 5280 4.2.1.10): a DNS name is
 * permitted when it equals a permitted name or ends in "." + it (its subdomains), an IP when it is one
 * of the permitted addresses.
 */
export function namesOutsideConstraints(names: SubjectAltNames, permitted: SubjectAltNames): string[] {
  const dnsPermitted = (name: string): boolean =>
    permitted.dnsNames.some((base) => {
      const [n, b] = [name.toLowerCase(), base.toLowerCase()];
      return n === b || n.endsWith(`.${b}`);
    });
  return [
    ...names.dnsNames.filter((name) => !dnsPermitted(name)),
    ...names.ipAddresses.filter((ip) => !permitted.ipAddresses.includes(ip)),
  ];
}

/** The names a CA certificate's nameConstraints permit, or undefined when it has none (it may vouch for any). */
export function permittedNamesOf(caPem: string, source = 'CA certificate'): SubjectAltNames | undefined {
  const extension = nameConstraintsExtension(parseCertificate(caPem, source).raw);
  if (extension === undefined) return undefined;
  // NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL, excludedSubtrees [1] ... };
  // each GeneralSubtree is a SEQUENCE whose first element is the GeneralName.
  const permitted = derChildren(extension, derElement(extension, 0)).find((element) => element.tag === 0xa0);
  const bases =
    permitted === undefined ? [] : derChildren(extension, permitted).map((tree) => derChildren(extension, tree)[0]);
  const content = (element: DerElement): Buffer => extension.subarray(element.start, element.end);
  return {
    // dNSName [2] IA5String, implicitly tagged.
    dnsNames: bases.filter((base) => base?.tag === 0x82).map((base) => content(base).toString('latin1')),
    // iPAddress [7]: address + mask; only single addresses (/32) are ones the registry can be reached by.
    ipAddresses: bases
      .filter((base) => base?.tag === 0x87 && base.end - base.start === 8)
      .map(content)
      .filter((bytes) => bytes.subarray(4).equals(Buffer.from([0xff, 0xff, 0xff, 0xff])))
      .map((bytes) => [...bytes.subarray(0, 4)].join('.')),
  };
}

/** One DER element: its tag and where its content starts and ends in the buffer. */
interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

function derElement(der: Buffer, offset: number): DerElement {
  const tag = der[offset];
  let length = der[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i];
    start += bytes;
  }
  if (tag === undefined || start + length > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + length };
}

function derChildren(der: Buffer, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  for (let offset = parent.start; offset < parent.end; offset = children[children.length - 1].end) {
    children.push(derElement(der, offset));
  }
  return children;
}

/**
 * The DER value of the nameConstraints extension (2.5.29.30) of a certificate, or undefined. Node reads
 * the certificate but has no API for this extension, and node-forge costs more to load than a synth.
 */
function nameConstraintsExtension(certificate: Buffer): Buffer | undefined {
  const tbs = derChildren(certificate, derElement(certificate, 0))[0];
  const extensions = derChildren(certificate, tbs).find((element) => element.tag === 0xa3);
  if (extensions === undefined) return undefined;
  const oid = Buffer.from([0x55, 0x1d, 0x1e]);
  for (const extension of derChildren(certificate, derChildren(certificate, extensions)[0])) {
    const [id, ...rest] = derChildren(certificate, extension);
    if (id.tag !== 0x06 || !certificate.subarray(id.start, id.end).equals(oid)) continue;
    const value = rest.find((element) => element.tag === 0x04); // after the optional critical BOOLEAN
    return value === undefined ? undefined : certificate.subarray(value.start, value.end);
  }
  return undefined;
}

const NAME_CONSTRAINTS_OID = '2.5.29.30';

function ipv4Bytes(ip: string): string {
  return String.fromCharCode(...ip.split('.').map(Number));
}

/** The DER value of a NameConstraints extension permitting exactly `names` (RFC 5280 4.2.1.10). */
function nameConstraintsValue(names: SubjectAltNames): Forge.asn1.Asn1 {
  const { asn1 } = forge();
  const subtree = (type: number, bytes: string): Forge.asn1.Asn1 =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, type, false, bytes),
    ]);
  const badIp = names.ipAddresses.find((ip) => isIP(ip) !== 4);
  if (badIp !== undefined) {
    throw new ValidationError(
      `'permittedNames.ipAddresses' must hold IPv4 addresses, got ${JSON.stringify(badIp)}: give each address as a.b.c.d`,
    );
  }
  const permitted = [
    ...names.dnsNames.map((name) => subtree(2, name)),
    // iPAddress constraints are address + mask: each address on its own, /32.
    ...names.ipAddresses.map((ip) => subtree(7, `${ipv4Bytes(ip)}\xff\xff\xff\xff`)),
  ];
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, permitted),
  ]);
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
  const keys = keyPairOf(options.keySizeBits, options.privateKeyPem);
  const subject = [{ name: 'commonName', value: options.commonName ?? 'cdk8s-private-registry CA' }];
  const cert = newCertificate(keys.publicKeyPem, subject, subject, validityDays, options.now);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    ...(options.permittedNames === undefined
      ? []
      : [{ id: NAME_CONSTRAINTS_OID, critical: true, value: nameConstraintsValue(options.permittedNames) }]),
  ]);
  return { certificatePem: signCertificate(cert, keys.privateKeyPem), privateKeyPem: keys.privateKeyPem };
}

/** A server certificate signed by `options.ca`, carrying every name in `options.subjectAltNames`. */
export function createServerCertificate(options: ServerCertificateOptions): CertificateAndKey {
  if (options.validityDays !== undefined)
    assertIntegerInRange(
      'certValidityDays',
      options.validityDays,
      1,
      3650,
      'give the server certificate lifetime in days',
    );
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
  const now = options.now ?? new Date();
  assertCertificateCurrent(options.ca.certificatePem, 'the CA certificate', ROTATE_CA_FIX, now);
  const caCert = forge().pki.certificateFromPem(options.ca.certificatePem);
  // A certificate that outlives its CA stops verifying when the CA ends: it ends with the CA at the latest.
  const caEnd = caCert.validity.notAfter;
  const caDaysLeft = Math.floor((caEnd.getTime() - now.getTime()) / DAY_MS);
  if (options.validityDays !== undefined && options.validityDays > caDaysLeft) {
    throw new ValidationError(
      `'certValidityDays' must not reach past the CA's end on ${isoSeconds(caEnd)}, ${caDaysLeft} days from now, got ${options.validityDays}: give at most ${caDaysLeft} days, or make a new CA first (private-registry certs renew --rotate-ca)`,
    );
  }
  const keys = keyPairOf(options.keySizeBits, options.privateKeyPem);
  const cert = newCertificate(
    keys.publicKeyPem,
    [{ name: 'commonName', value: dnsNames[0] }],
    caCert.subject.attributes,
    options.validityDays ?? DEFAULT_CERT_VALIDITY_DAYS,
    now,
  );
  if (cert.validity.notAfter > caEnd) cert.validity.notAfter = caEnd;
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

/** The fix for a server certificate that is expired, not yet valid or otherwise unusable. */
export const RENEW_CERTIFICATE_FIX = 'issue a new server certificate: private-registry certs renew';
/** The fix for a CA that is expired or not yet valid: a new CA, which also issues a new server certificate. */
export const ROTATE_CA_FIX =
  'make a new CA and server certificate: private-registry certs renew --rotate-ca (then give the nodes and this machine the new CA)';

/** Where `now` falls in a certificate's validity: the one rule every check of it uses. */
export function certificateValidityAt(
  validity: { readonly notBefore: Date; readonly notAfter: Date },
  now: Date,
): 'current' | 'expired' | 'not yet valid' {
  if (now.getTime() > validity.notAfter.getTime()) return 'expired';
  if (now.getTime() < validity.notBefore.getTime()) return 'not yet valid';
  return 'current';
}

/** Fewer days left than this and `certs show` and `doctor` warn; an expired certificate fails. */
export const EXPIRY_WARNING_DAYS = 30;

/** Why `validity` is not usable at `now` ("expired on ...", "is not valid before ..."), or undefined when it is. */
export function certificateValidityProblem(
  validity: { readonly notBefore: Date; readonly notAfter: Date },
  now: Date,
): string | undefined {
  switch (certificateValidityAt(validity, now)) {
    case 'expired':
      return `expired on ${isoSeconds(validity.notAfter)}`;
    case 'not yet valid':
      return `is not valid before ${isoSeconds(validity.notBefore)} (is this machine's clock right?)`;
    default:
      return undefined;
  }
}

/**
 * The one validity rule, for synth, readMaterial, `certs renew` and the constructs: a certificate outside its
 * validity at `now` is refused, naming `source` and `fix` (RENEW_CERTIFICATE_FIX or ROTATE_CA_FIX).
 */
export function assertCertificateCurrent(pem: string, source: string, fix: string, now: Date = new Date()): void {
  const cert = parseCertificate(pem, source);
  const problem = certificateValidityProblem(
    { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) },
    now,
  );
  if (problem !== undefined) throw new ValidationError(`${source} ${problem}, it is now ${isoSeconds(now)}: ${fix}`);
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

/** Throws a ValidationError naming `source` unless `pem` is a PEM X.509 RSA certificate. */
export function assertCertificatePem(pem: string, source: string): void {
  parseCertificate(pem, source);
}

/** Throws a ValidationError naming `source` unless `pem` is a PEM RSA private key. */
export function assertPrivateKeyPem(pem: string, source: string): void {
  parsePrivateKey(pem, source);
}

/**
 * What Node parsed from a PEM, by the PEM's text: a synth checks the same certificates and keys in
 * readMaterial and again in each construct (each piece must refuse bad material on its own too), and
 * doctor several times over. The objects are immutable and the key is the whole content, so a changed
 * file is parsed anew; only parses that succeeded are kept, and only the last few.
 */
const parsed = new Map<string, X509Certificate | KeyObject>();
const MAX_PARSED = 16;

function remember<T extends X509Certificate | KeyObject>(pem: string, value: T): T {
  if (parsed.size >= MAX_PARSED) parsed.delete(parsed.keys().next().value as string);
  parsed.set(pem, value);
  return value;
}

/** The certificate in `pem`, or a ValidationError naming `source` and the fix. Parsed and checked by Node (OpenSSL). */
export function parseCertificate(pem: string, source: string): X509Certificate {
  const known = parsed.get(pem);
  if (known instanceof X509Certificate) return known;
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
  return remember(pem, cert);
}

/** The RSA private key in `pem`, or a ValidationError naming `source` and the fix. */
export function parsePrivateKey(pem: string, source: string): KeyObject {
  const known = parsed.get(pem);
  if (known !== undefined && !(known instanceof X509Certificate)) return known;
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
  return remember(pem, key);
}

/** node-forge, loaded only when a certificate is made: it is the slowest module this package loads. */
function forge(): typeof Forge {
  return require('node-forge') as typeof Forge;
}

function assertRsaKeySize(keySizeBits: number): void {
  if (![2048, 3072, 4096].includes(keySizeBits)) {
    throw new ValidationError(
      `'keySizeBits' must be 2048, 3072 or 4096, got ${keySizeBits}: pick one of those RSA sizes`,
    );
  }
}

/**
 * A new RSA private key (PKCS#1 PEM, "BEGIN RSA PRIVATE KEY"), its two primes made in Node's thread pool: the
 * two keys of new material are four primes made at the same time, and the caller's thread goes on meanwhile
 * (lib/rsa-key.ts says how the key is made). For the `privateKeyPem` options of createCertificateAuthority
 * and createServerCertificate.
 */
export function generateRsaPrivateKey(keySizeBits = 2048): Promise<string> {
  assertRsaKeySize(keySizeBits);
  return rsaKey.generateRsaPrivateKey(keySizeBits);
}

/** The key pair of `privateKeyPem`, which must be an RSA key of `keySizeBits`; a new one without it. */
function keyPairOf(keySizeBits = 2048, privateKeyPem?: string): { publicKeyPem: string; privateKeyPem: string } {
  assertRsaKeySize(keySizeBits);
  const pem = privateKeyPem ?? rsaKey.generateRsaPrivateKeySync(keySizeBits);
  const key = parsePrivateKey(pem, "'privateKeyPem'");
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== keySizeBits) {
    throw new ValidationError(
      `'privateKeyPem' must be an RSA key of ${keySizeBits} bits ('keySizeBits'), got ${bits} bits: give a key of that size, or leave 'privateKeyPem' out to make one`,
    );
  }
  return { publicKeyPem: createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string, privateKeyPem: pem };
}

/**
 * A certificate serial number from 16 random bytes, as node-forge writes it (the bytes of a DER INTEGER, as
 * given): first byte 0x40-0x7f. Its high bit clear keeps the integer positive, and a non-zero first byte
 * keeps the encoding minimal: a leading 0x00 before a byte under 0x80 is not DER, and OpenSSL (so Node, Go
 * and containerd) refuses the certificate ("illegal padding"), which 1 in 256 serials did before. 126 random
 * bits remain (RFC 5280 asks for at most 20 octets; CAs use at least 64 random bits).
 */
export function certificateSerialHex(random16: Buffer): string {
  const serial = Buffer.from(random16);
  serial[0] = (serial[0] & 0x3f) | 0x40;
  return serial.toString('hex');
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
  cert.serialNumber = certificateSerialHex(randomBytes(16));
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

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
