import {
  type CertificateAndKey,
  ROTATE_CA_COMMAND,
  caConstraintProblem,
  certificateValidityAt,
  describeCertificate,
  isIssuedBy,
  keyMatchesCertificate,
  missingSubjectAltNames,
  registrySubjectAltNames,
} from './certificates';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE_NAME } from './defaults';
import type { Credentials } from './htpasswd';
import { type MaterialAddresses, materialAddressesOf, nodeCredentialsOf } from './material-addresses';
import { type NodeCacheMirror, type RegistriesConfig, cacheMirrorDifferences, cacheMirrorsOf } from './registries-yaml';
import { ValidationError } from './validate';

/**
 * The checks that keep a construct from contradicting the material it is made from. RegistryChart and
 * each piece (RegistryServer, RegistryAuth, NodeHostsDaemonSet) call these, so a piece used on its own
 * refuses exactly what the chart refuses, with the same message.
 */

/** The hostname and ports the material's registries.yaml gives the nodes; undefined without one. */
export function materialAddresses(registries: RegistriesConfig | undefined): MaterialAddresses | undefined {
  return registries === undefined ? undefined : materialAddressesOf(registries, "'material.registries'");
}

/** The prop if given (it must then match the material), else the material's value, else the fallback. */
export function agreeWithMaterial<T extends string | number>(
  prop: string,
  given: T | undefined,
  fromMaterial: T | undefined,
  fallback: T,
): T {
  if (given !== undefined && fromMaterial !== undefined && given !== fromMaterial) {
    throw new ValidationError(
      `'${prop}' is ${JSON.stringify(given)} but the material's registries.yaml says ${JSON.stringify(fromMaterial)}: the nodes would not find the registry; leave '${prop}' out to follow the material, or make new material with that value`,
    );
  }
  return given ?? fromMaterial ?? fallback;
}

/** What a registry's server certificate is checked against. */
export interface ServerCertificateCheck {
  readonly tls: CertificateAndKey;
  /** The CA that must have signed `tls`. @default - the issuer is not checked */
  readonly caCertificatePem?: string;
  /** The props the certificate and the CA came from, as the user wrote them: 'tls' or 'material.tls'. */
  readonly tlsProp: string;
  readonly caProp: string;
  /** Every name a client uses must be a subjectAltName: Go clients ignore the Common Name. */
  readonly hostname: string;
  readonly serviceName: string;
  readonly namespace: string;
  /** @default - the current time */
  readonly now?: Date;
}

/**
 * A server certificate the registry can serve and every client accepts: its own key, signed by the CA
 * the nodes trust, valid now, naming the hostname and the Service in the namespace where it lands.
 */
export function assertServerCertificate(check: ServerCertificateCheck): void {
  const { tls, tlsProp, caProp } = check;
  const now = check.now ?? new Date();
  const certificate = describeCertificate(tls.certificatePem, now, `'${tlsProp}'`);
  const shown = `'${tlsProp}' (${certificate.subject})`;
  if (!keyMatchesCertificate(tls.certificatePem, tls.privateKeyPem)) {
    throw new ValidationError(
      `'${tlsProp}.privateKeyPem' does not belong to ${shown}: the registry could not serve TLS with them; give that certificate's key, or issue a new certificate and key (private-registry certs renew)`,
    );
  }
  if (check.caCertificatePem !== undefined) {
    const ca = describeCertificate(check.caCertificatePem, now, `'${caProp}'`);
    if (!isIssuedBy(tls.certificatePem, check.caCertificatePem)) {
      throw new ValidationError(
        `${shown} is not signed by '${caProp}' (${ca.subject}, SHA-256 ${ca.sha256Fingerprint}): clients that trust that CA would reject the registry; give the CA that issued it, or issue a new certificate from this CA (private-registry certs renew)`,
      );
    }
    assertValidNow(
      `'${caProp}' (${ca.subject})`,
      ca.notBefore,
      ca.notAfter,
      now,
      'make a new CA (private-registry certs renew --rotate-ca), then give the nodes and desktops the new ca.crt',
    );
  }
  assertValidNow(
    shown,
    certificate.notBefore,
    certificate.notAfter,
    now,
    'issue a new one (private-registry certs renew)',
  );

  // A name-constrained CA vouches only for the names it was made for (certificates.ts, caConstraintProblem).
  const constraintProblem =
    check.caCertificatePem === undefined
      ? undefined
      : caConstraintProblem(check.caCertificatePem, check.hostname, check.serviceName, check.namespace, `'${caProp}'`);
  const missing = missingSubjectAltNames(
    certificate,
    registrySubjectAltNames(check.hostname, check.serviceName, check.namespace),
  );
  if (missing.length > 0) {
    // `certs renew` makes a certificate with every name this Service needs; a name-constrained CA that may
    // not vouch for them is replaced too (--rotate-ca).
    const flags = [
      ...(check.serviceName === DEFAULT_SERVICE_NAME ? [] : [`--service-name ${check.serviceName}`]),
      ...(check.namespace === DEFAULT_NAMESPACE ? [] : [`--namespace ${check.namespace}`]),
    ]
      .map((flag) => ` ${flag}`)
      .join('');
    const fix =
      constraintProblem !== undefined
        ? `'${caProp}' may not vouch for them (its name constraints): a new hostname, Service or namespace needs a new CA: ${ROTATE_CA_COMMAND}${flags}, then give the nodes and desktops the new ca.crt`
        : `renew the certificate for this hostname, Service and namespace (private-registry certs renew${flags})`;
    throw new ValidationError(
      `'${tlsProp}' does not name ${missing.join(', ')}: clients using those names would fail TLS; ${fix}`,
    );
  }
  if (constraintProblem !== undefined) throw new ValidationError(constraintProblem);
}

function assertValidNow(shown: string, notBefore: Date, notAfter: Date, now: Date, fix: string): void {
  const validity = certificateValidityAt({ notBefore, notAfter }, now);
  if (validity === 'expired') {
    throw new ValidationError(
      `${shown} expired on ${notAfter.toISOString()}: clients reject an expired certificate; ${fix}`,
    );
  }
  if (validity === 'not yet valid') {
    throw new ValidationError(
      `${shown} is not valid until ${notBefore.toISOString()}: clients reject it until then; check this machine's clock, or ${fix}`,
    );
  }
}

/**
 * The nodes pull with the credentials in registries.yaml, not with `nodeCredentials`: when the material
 * carries both, they must be the same user and password. Neither password is ever shown.
 */
export function assertNodeCredentialsAgree(
  nodeCredentials: Credentials,
  registries: RegistriesConfig | undefined,
): void {
  if (registries === undefined) return;
  const fromRegistries = nodeCredentialsOf(registries, "'material.registries'");
  if (fromRegistries.username !== nodeCredentials.username || fromRegistries.password !== nodeCredentials.password) {
    const which =
      fromRegistries.username === nodeCredentials.username
        ? `user ${JSON.stringify(nodeCredentials.username)}, another password`
        : `user ${JSON.stringify(fromRegistries.username)}`;
    throw new ValidationError(
      `'material.nodeCredentials' (user ${JSON.stringify(nodeCredentials.username)}) are not what the material's registries.yaml gives the nodes (${which}): the nodes pull with registries.yaml's; take both from one material directory (readMaterial)`,
    );
  }
}

/**
 * The chart's caches must be the ones the material's registries.yaml mirrors, on the same ports: a cache the
 * nodes do not know is never used, and a mirror with no cache behind it sends every node pull of that
 * upstream to a port nothing serves before it falls back.
 */
export function assertCachesAgree(
  caches: readonly NodeCacheMirror[],
  registries: RegistriesConfig | undefined,
  addresses: MaterialAddresses | undefined,
): void {
  if (registries === undefined || addresses === undefined) return;
  const mirrored = cacheMirrorsOf(registries, addresses.hostname, addresses.registryPort);
  const [difference] = cacheMirrorDifferences(caches, mirrored);
  if (difference === undefined) return;
  switch (difference.kind) {
    case 'not mirrored': {
      const { cache, index } = difference;
      throw new ValidationError(
        `'caches[${index}]' (${cache.upstream} on port ${cache.port}) is not a mirror in the material's registries.yaml: the nodes would never pull through it; add it to the material (private-registry cache add ${cache.upstream}), or leave it out`,
      );
    }
    case 'other port': {
      const { cache, index, mirrorPort } = difference;
      throw new ValidationError(
        `'caches[${index}].port' is ${cache.port} but the material's registries.yaml mirrors ${cache.upstream} to https://${addresses.hostname}:${mirrorPort}: the nodes would pull through a port nothing serves; leave 'port' out or give ${mirrorPort}`,
      );
    }
    case 'no cache': {
      const { mirror } = difference;
      throw new ValidationError(
        `the material's registries.yaml mirrors ${mirror.upstream} to https://${addresses.hostname}:${mirror.port}, but 'caches' has no cache for it: every node pull of ${mirror.upstream} would first try a port nothing serves; give the material's caches (readMaterial() returns them as 'caches'), or remove it from the material (private-registry cache rm ${mirror.upstream})`,
      );
    }
  }
}
