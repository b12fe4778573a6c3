/**
 * The containerd registry hosts directory (`certs.d/<host>/hosts.toml`) that k3s renders from a
 * `registries.yaml`, reproduced so tests can hand real containerd exactly what a k3s node would use.
 *
 * Rules ported from k3s `pkg/agent/containerd/config.go` (getHostConfigs, normalizeEndpointAddress,
 * defaultHostConfig, configForHost) and its HostsTomlTemplate, in the form they took in k3s commit
 * f2961fb5d (PR #9853, which restored the `[host]` table; first shipped in v1.29.4, backported to v1.28.9
 * and v1.27.13):
 * - every `configs` key and every `mirrors` key gets a directory, named by that key (`*` → `_default`);
 * - `server` is the registry's own default endpoint, normalized like containerd does it: `https://HOST/v2`,
 *   but `http://` for localhost / loopback IPs on a port other than 443, and `registry-1.docker.io` for
 *   docker.io. TLS settings of `configs[HOST]` go at the top level, for that default endpoint. The `*`
 *   mirror's default endpoint is empty: `server = ""` with the capabilities. The default endpoint never
 *   carries `override_path`;
 * - each mirror endpoint becomes `[host."<normalized URL>"]` with `capabilities = ["pull", "resolve"]`
 *   and the TLS settings of `configs[<endpoint host>]` (k3s's configForHost(registryName): `configs` is
 *   keyed by the endpoint's host, as in the k3s docs' examples); a path other than ``, `/` or `/v2` sets
 *   `override_path = true`; the URL keeps its userinfo, query and fragment, as Go's url.URL.String()
 *   does; duplicates are dropped; a LAST endpoint equal to the default endpoint becomes the default
 *   instead of a `[host]` entry;
 * - a directory whose only content would be an unconfigured default endpoint is not written.
 * Where k3s logs and skips an endpoint it cannot parse (a host with a space, a bad port), this module
 * throws instead, so the material never carries a registries.yaml the nodes would silently half-use.
 * Credentials (`auth`) never appear here: k3s keeps them in containerd's config.toml (CRI registry
 * configs); with `ctr images pull` they are given as `-u USER:PASS`.
 *
 * The empty `[host]` table matters: containerd 1.6/1.7 rejects a hosts.toml without it ("failed to decode
 * hosts.toml" error="invalid `host` tree") and then ignores the whole file, CA included (measured; the
 * k3s releases v1.29.3, v1.28.8, v1.27.12 and v1.26.15 wrote such files, k3s#9839).
 * Layout and comment line are ours; the TOML keys, values and their order are k3s's.
 */

import type { RegistriesConfig, RegistryHostConfig } from './registries-yaml';
import { isIP } from './validate';

/** One `certs.d/<host>/hosts.toml` file. */
export interface HostsTomlFile {
  /** The directory under the hosts dir (containerd `config_path` / `ctr --hosts-dir`), e.g. "localhost:31113". */
  readonly host: string;
  /** The hosts.toml content. */
  readonly content: string;
}

/** Options of containerdHostsFiles. */
export interface ContainerdHostsOptions {
  /** Maps ca_file / cert_file / key_file paths (node paths) to where the files really are, e.g. in a test. */
  readonly mapPath?: (path: string) => string;
  /** k3s `--disable-default-registry-endpoint`: mirrors get no `server` fallback. */
  readonly noDefaultEndpoint?: boolean;
}

/** The first line of every generated file. */
export const HOSTS_TOML_HEADER = '# containerd hosts.toml rendered from registries.yaml by the k3s rules. DO NOT EDIT.';

/** A TOML basic string: quotes, backslashes and control characters escaped. */
export function tomlString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * Go's `%q` (strconv.Quote), which k3s's template uses for the TLS file paths: TOML's escapes for quote,
 * backslash and \b \f \n \r \t, Go's own for \a \v and other control characters.
 */
export function goQuote(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    const named: Record<string, string> = {
      '"': '\\"',
      '\\': '\\\\',
      '\x07': '\\a',
      '\b': '\\b',
      '\f': '\\f',
      '\n': '\\n',
      '\r': '\\r',
      '\t': '\\t',
      '\v': '\\v',
    };
    if (named[ch] !== undefined) out += named[ch];
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code >= 0x80 && code < 0xa0) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

interface Endpoint {
  /** Normalized URL; undefined only for the `*` registry's default endpoint. */
  readonly url: string | undefined;
  readonly overridePath: boolean;
  readonly config: RegistryHostConfig;
  readonly rewrites?: Readonly<Record<string, string>>;
}

interface HostConfig {
  default: Endpoint | undefined;
  readonly endpoints: Endpoint[];
}

interface NormalizedEndpoint {
  /** The registry host:port this endpoint belongs to (the `configs` key to look up). */
  readonly registry: string;
  readonly url: string;
  readonly overridePath: boolean;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_HOST = 'registry-1.docker.io';

/** containerd `docker.DefaultHost`. */
function defaultHost(host: string): string {
  return host === DOCKER_HUB ? DOCKER_HUB_HOST : host;
}

function splitHostPort(hostport: string): { hostname: string; port: string } {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(hostport);
  if (bracketed !== null) return { hostname: bracketed[1], port: bracketed[2] ?? '' };
  const colon = hostport.lastIndexOf(':');
  if (colon === -1 || hostport.indexOf(':') !== colon) return { hostname: hostport, port: '' };
  return { hostname: hostport.slice(0, colon), port: hostport.slice(colon + 1) };
}

/** containerd `docker.IsLocalhost`: "localhost" or a loopback IP. */
function isLocalhost(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  // Only digits and dots (IPv4) or a ':' (IPv6) can be an address; isIP's first call costs milliseconds.
  if (!/^[\d.]+$/.test(hostname) && !hostname.includes(':')) return false;
  switch (isIP(hostname)) {
    case 4:
      return hostname.startsWith('127.');
    case 6:
      return /^[0:]+1$/.test(hostname) || /^[0:]*:ffff:127\./i.test(hostname);
    default:
      return false;
  }
}

/** k3s `normalizeEndpointAddress` (without its embedded-mirror exception). */
function normalizeEndpoint(endpoint: string): NormalizedEndpoint {
  const withScheme = endpoint.includes('://') ? endpoint : `//${endpoint}`;
  const match = /^(?:([A-Za-z][A-Za-z0-9+.-]*):)?\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/s.exec(withScheme);
  // Go's url.Parse: userinfo is everything before the last '@' of the authority; the host may not hold
  // a space or a control character.
  const authority = match?.[2] ?? '';
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at + 1);
  const host = authority.slice(at + 1);
  const hasSpaceOrControl = [...host].some(
    (ch) => /\s/.test(ch) || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f,
  );
  if (match === null || host === '' || hasSpaceOrControl) {
    throw new Error(
      `containerdHostsFiles: cannot parse registry endpoint ${JSON.stringify(endpoint)}: write it as https://host[:port][/path]`,
    );
  }
  const suffix = `${match[4] ?? ''}${match[5] ?? ''}`;
  const { hostname, port } = splitHostPort(host);
  if (port !== '' && !/^\d+$/.test(port)) {
    throw new Error(
      `containerdHostsFiles: registry endpoint ${JSON.stringify(endpoint)} has an invalid port ${JSON.stringify(port)}`,
    );
  }
  // localhost on an odd port defaults to plain http (containerd's and k3s's rule).
  const scheme =
    match[1] !== undefined
      ? match[1].toLowerCase()
      : isLocalhost(hostname) && port !== '' && port !== '443'
        ? 'http'
        : 'https';
  const urlHost = defaultHost(host);
  const registry = urlHost === DOCKER_HUB_HOST ? DOCKER_HUB : host;
  const path = match[3];
  if (path === '' || path === '/' || path === '/v2') {
    return { registry, url: `${scheme}://${userinfo}${urlHost}/v2${suffix}`, overridePath: false };
  }
  return { registry, url: `${scheme}://${userinfo}${urlHost}${path}${suffix}`, overridePath: true };
}

/** k3s `configForHost`: docker.io also finds configs["registry-1.docker.io"]. */
function configForHost(configs: RegistriesConfig['configs'], host: string): RegistryHostConfig {
  const mapped = defaultHost(host);
  if (mapped !== host && configs?.[mapped] !== undefined) return configs[mapped];
  return configs?.[host] ?? {};
}

function defaultHostConfig(host: string, config: RegistryHostConfig): HostConfig {
  const url = host === '*' ? undefined : normalizeEndpoint(host).url;
  return { default: { url, overridePath: false, config }, endpoints: [] };
}

function endpointHasConfig(endpoint: Endpoint | undefined): boolean {
  if (endpoint === undefined) return false;
  return (
    endpoint.overridePath ||
    endpoint.config.auth !== undefined ||
    endpoint.config.tls !== undefined ||
    Object.keys(endpoint.rewrites ?? {}).length > 0
  );
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function hostConfigs(config: RegistriesConfig, noDefaultEndpoint: boolean): Map<string, HostConfig> {
  const hosts = new Map<string, HostConfig>();
  const dirName = (host: string): string => (host === '*' ? '_default' : host);

  for (const host of Object.keys(config.configs ?? {}).sort(byCodeUnit)) {
    hosts.set(dirName(host), defaultHostConfig(host, config.configs?.[host] ?? {}));
  }

  for (const host of Object.keys(config.mirrors).sort(byCodeUnit)) {
    const mirror = config.mirrors[host];
    let hostConfig = hosts.get(host);
    if (hostConfig === undefined) {
      hostConfig = defaultHostConfig(host, configForHost(config.configs, host));
      if (noDefaultEndpoint) hostConfig.default = undefined;
      // k3s gives the `*` mirror an empty default endpoint (`server = ""`), without the configs["*"] settings.
      else if (host === '*') hostConfig.default = { url: '', overridePath: false, config: {} };
    }
    const seen = new Set<string>();
    const endpoints = mirror.endpoint ?? [];
    endpoints.forEach((raw, i) => {
      const normalized = normalizeEndpoint(raw);
      if (seen.has(normalized.url)) return; // k3s: "Skipping duplicate endpoint URL"
      seen.add(normalized.url);
      const endpoint: Endpoint = {
        url: normalized.url,
        overridePath: normalized.overridePath,
        config: configForHost(config.configs, normalized.registry),
        rewrites: mirror.rewrite,
      };
      if (i + 1 === endpoints.length && (hostConfig.default?.url ?? '') === normalized.url) {
        hostConfig.default = endpoint; // the last endpoint IS the default one: fold it in
      } else {
        hostConfig.endpoints.push(endpoint);
      }
    });
    hosts.set(dirName(host), hostConfig);
  }

  for (const [host, hostConfig] of hosts) {
    if (hostConfig.endpoints.length === 0 && !endpointHasConfig(hostConfig.default)) hosts.delete(host);
  }
  return hosts;
}

function tlsLines(endpoint: Endpoint, indent: string, mapPath: (path: string) => string): string[] {
  const tls = endpoint.config.tls;
  if (tls === undefined) return [];
  const lines: string[] = [];
  if (tls.ca_file) lines.push(`${indent}ca = [${goQuote(mapPath(tls.ca_file))}]`);
  if (tls.cert_file || tls.key_file) {
    const cert = tls.cert_file ? mapPath(tls.cert_file) : '';
    const key = tls.key_file ? mapPath(tls.key_file) : '';
    lines.push(`${indent}client = [[${goQuote(cert)}, ${goQuote(key)}]]`);
  }
  if (tls.insecure_skip_verify === true) lines.push(`${indent}skip_verify = true`);
  return lines;
}

function render(hostConfig: HostConfig, mapPath: (path: string) => string): string {
  const lines = [HOSTS_TOML_HEADER];
  const def = hostConfig.default;
  if (def !== undefined) {
    // Never override_path here: k3s writes it for [host] entries only.
    if (def.url !== undefined)
      lines.push(`server = ${tomlString(def.url)}`, 'capabilities = ["pull", "resolve", "push"]');
    lines.push(...tlsLines(def, '', mapPath));
  }
  lines.push('', '[host]');
  for (const endpoint of hostConfig.endpoints) {
    const key = `host.${tomlString(endpoint.url ?? '')}`;
    lines.push('', `[${key}]`, '  capabilities = ["pull", "resolve"]');
    if (endpoint.overridePath) lines.push('  override_path = true');
    lines.push(...tlsLines(endpoint, '  ', mapPath));
    const rewrites = Object.keys(endpoint.rewrites ?? {}).sort(byCodeUnit);
    if (rewrites.length > 0) {
      lines.push(`  [${key}.rewrite]`);
      // k3s's template writes rewrites unescaped ("{{ $pattern }}" = "{{ $replace }}"): so do we, so the
      // file equals k3s's. A pattern with a backslash or a quote makes a file containerd cannot read,
      // on a k3s node as here.
      for (const pattern of rewrites) lines.push(`    "${pattern}" = "${endpoint.rewrites?.[pattern] ?? ''}"`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The hosts.toml files k3s writes for this registries.yaml, one per directory, sorted by directory name.
 * Throws on an endpoint that is not a URL or host[:port] (k3s would log and skip it).
 */
export function containerdHostsFiles(config: RegistriesConfig, options: ContainerdHostsOptions = {}): HostsTomlFile[] {
  const mapPath = options.mapPath ?? ((path: string): string => path);
  const hosts = hostConfigs(config, options.noDefaultEndpoint === true);
  return [...hosts.keys()]
    .sort(byCodeUnit)
    .map((host) => ({ host, content: render(hosts.get(host) as HostConfig, mapPath) }));
}
