import type * as Net from 'node:net';

/**
 * Input checks shared by the constructs, the material directory and the CLI.
 * Each error names the field, the value received, what was expected and how to fix it.
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i;

/** Bad input: the message names the field, the value received, what was expected and how to fix it. */
export class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationError';
  }
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Throws unless `value` is a DNS label (RFC 1123), as Kubernetes names require. */
export function assertDnsLabel(field: string, value: string): void {
  if (value.length > 63 || !DNS_LABEL.test(value)) {
    throw new ValidationError(
      `'${field}' must be a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), got ${show(value)}: pick a name like "container-registry"`,
    );
  }
}

/** Throws unless `value` is a DNS hostname. */
export function assertHostname(field: string, value: string): void {
  const labels = value.split('.');
  if (value.length > 253 || labels.some((label) => label.length > 63 || !DNS_SUBDOMAIN_LABEL.test(label))) {
    throw new ValidationError(
      `'${field}' must be a DNS hostname (dot-separated labels of letters, digits and '-'), got ${show(value)}: pick a name like "container-registry.local"`,
    );
  }
}

/**
 * The name nodes map to the registry's Service IP in /etc/hosts and find in its certificate: a DNS name
 * of its own, not an IP (it would be a DNS SAN) and not localhost (the nodes' own loopback line).
 */
export function assertRegistryHostname(field: string, value: string): void {
  assertHostname(field, value);
  // A hostname can only be an IP address when it is digits and dots (isIP's first call costs milliseconds).
  if ((/^[\d.]+$/.test(value) && isIP(value) !== 0) || /^localhost(\.|$)/i.test(value)) {
    throw new ValidationError(
      `'${field}' must be a name of the registry's own, not an IP address or localhost, got ${show(value)}: the nodes map it to the Service IP in /etc/hosts; pick a name like "container-registry.local"`,
    );
  }
}

/** A Service name (DNS-1035): a DNS label that starts with a letter. */
export function assertServiceName(field: string, value: string, maxLength = 63): void {
  if (value.length > maxLength || !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(value)) {
    throw new ValidationError(
      `'${field}' must be a Service name (lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most ${maxLength} characters), got ${show(value)}: pick a name like "container-registry"`,
    );
  }
}

/** Throws unless `value` is an integer in min-max; `fix` ends the message. */
export function assertIntegerInRange(field: string, value: number, min: number, max: number, fix: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(`'${field}' must be an integer in ${min}-${max}, got ${show(value)}: ${fix}`);
  }
}

/** Throws unless `value` is a TCP port. */
export function assertPort(field: string, value: number): void {
  assertIntegerInRange(field, value, 1, 65535, 'pick a TCP port');
}

/** Throws unless `value` is in Kubernetes's default NodePort range. */
export function assertNodePort(field: string, value: number): void {
  assertIntegerInRange(field, value, 30000, 32767, 'pick a port in the NodePort range');
}

/** Throws unless `value` is a Kubernetes quantity with a whole number, like "10Gi". */
export function assertStorageSize(field: string, value: string): void {
  if (!/^[1-9][0-9]*(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.test(value)) {
    throw new ValidationError(
      `'${field}' must be a Kubernetes quantity like "10Gi", got ${show(value)}: write a whole number with a unit such as Mi or Gi`,
    );
  }
}

/** An image reference with a tag other than `latest`, or a digest: the same synth must deploy the same code. */
export function assertPinnedImage(field: string, value: string): void {
  const lastComponent = value.split('/').pop() ?? '';
  const tag = /:([\w][\w.-]{0,127})$/.exec(lastComponent.replace(/@.*$/, ''))?.[1];
  const digest = /@sha256:[a-f0-9]{64}$/.test(value);
  if (/\s/.test(value) || value === '' || (!digest && (tag === undefined || tag === 'latest'))) {
    throw new ValidationError(
      `'${field}' must name an exact version like "registry:3.1.1", got ${JSON.stringify(value)}: add a tag other than latest, or a digest, so every synth deploys the same code`,
    );
  }
}

/** node:net's isIP, the module loaded on the first call: every command loads this module, few check an address. */
export function isIP(value: string): number {
  return (require('node:net') as typeof Net).isIP(value);
}
