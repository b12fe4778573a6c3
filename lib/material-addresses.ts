import type { Credentials } from './htpasswd';
import { type RegistriesConfig, endpointHost } from './registries-yaml';
import { ValidationError, assertNodePort, assertPort, assertRegistryHostname } from './validate';

/**
 * What the material's registries.yaml says about the registry: where it is (hostname, ports) and the user
 * the nodes pull with. Pure functions of the parsed file, apart from material.ts, so that a command reading
 * only certificates or registries.yaml (certs, images, the probes) loads nothing else of the material.
 */

/**
 * The `configs` key the nodes' credentials and CA live under: the endpoint of the `localhost:<nodePort>`
 * mirror (the pushed name), whatever other mirrors (docker.io, ...) registries.yaml holds.
 */
export function nodeConfigKey(registries: RegistriesConfig): string | undefined {
  const pushName = pushMirrorName(registries) ?? Object.keys(registries.mirrors)[0];
  const endpoint = pushName === undefined ? undefined : registries.mirrors[pushName].endpoint[0];
  return endpoint === undefined ? undefined : endpointHost(endpoint);
}

/** The credentials the nodes pull with, as registries.yaml gives them (see nodeConfigKey). */
export function nodeCredentialsOf(registries: RegistriesConfig, source = 'registries.yaml'): Credentials {
  const key = nodeConfigKey(registries);
  if (key === undefined) {
    throw new ValidationError(
      `${source} gives the mirror ${JSON.stringify(pushMirrorName(registries) ?? Object.keys(registries.mirrors)[0] ?? '')} no endpoint: the nodes would not know where the registry is; recreate the material (private-registry init --force)`,
    );
  }
  const auth = registries.configs?.[key]?.auth;
  if (auth?.username === undefined || auth.password === undefined) {
    throw new ValidationError(
      `${source} has no configs."<endpoint host>".auth with username and password: the nodes could not pull; recreate it`,
    );
  }
  return { username: auth.username, password: auth.password };
}

/** Where the registry is, as the material's registries.yaml says (it records no other settings). */
export interface MaterialAddresses {
  /** The name the nodes use, e.g. container-registry.local. */
  readonly hostname: string;
  /** The Service port the nodes reach, e.g. 5000. */
  readonly registryPort: number;
  /** The NodePort the desktop pushes to as localhost:<nodePort>. */
  readonly nodePort: number;
}

/** The hostname and ports of `nodeRegistriesConfig`, read back from a registries.yaml. */
export function materialAddressesOf(registries: RegistriesConfig, source = 'registries.yaml'): MaterialAddresses {
  const endpoint = /^(.+):(\d+)$/.exec(nodeConfigKey(registries) ?? '');
  const pushName = pushMirrorName(registries);
  if (endpoint === null || pushName === undefined) {
    throw new ValidationError(
      `${source} needs a mirror "localhost:<nodePort>" and an endpoint "https://<hostname>:<port>": recreate the material (private-registry init --force)`,
    );
  }
  const addresses = {
    hostname: endpoint[1],
    registryPort: Number(endpoint[2]),
    nodePort: Number(pushName.slice('localhost:'.length)),
  };
  // The values come from the file, so its errors name the file, not a prop the user never gave.
  const fix = 'recreate the material (private-registry init --force), or fix the file by hand';
  try {
    assertRegistryHostname('hostname', addresses.hostname);
    assertPort('registryPort', addresses.registryPort);
    assertNodePort('nodePort', addresses.nodePort);
  } catch (error) {
    const reason = (error as Error).message.replace(/: [^:]*$/, '');
    throw new ValidationError(
      `${source}: its mirror "${pushName}" and endpoint "${nodeConfigKey(registries)}" give ${reason}: ${fix}`,
    );
  }
  return addresses;
}

/** The mirror named `localhost:<nodePort>`: the name the desktop pushes as. */
function pushMirrorName(registries: RegistriesConfig): string | undefined {
  return Object.keys(registries.mirrors).find((name) => /^localhost:\d+$/.test(name));
}
