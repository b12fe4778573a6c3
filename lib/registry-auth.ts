import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import { DEFAULT_BCRYPT_COST, registrySecretNames } from './defaults';
import { type Credentials, createHtpasswd, parseHtpasswd, validateBcryptCost, verifyPassword } from './htpasswd';
import { assertNodeCredentialsAgree } from './material-agreement';
import type { RandomSource } from './random';
import {
  type NodeRegistryOptions,
  type RegistriesConfig,
  nodeRegistriesConfig,
  renderRegistriesYaml,
} from './registries-yaml';
import { ValidationError, assertDnsLabel } from './validate';

/** What the registry Deployment needs to know about its htpasswd Secret. */
export interface IRegistryAuth {
  /** The Secret that holds the htpasswd file, in the registry's namespace. */
  readonly secretName: string;
  /** The key in the Secret that holds the htpasswd file. */
  readonly htpasswdKey: string;
  /** The realm the registry names when it asks for a password. */
  readonly realm: string;
}

/** What RegistryAuth takes from the material; `readMaterial()` and `loadOrCreateMaterial()` give it. */
export interface RegistryAuthMaterial {
  /** A ready htpasswd file (bcrypt lines). */
  readonly htpasswd: string;
  /** The user the nodes pull with; the htpasswd must accept it. */
  readonly nodeCredentials: Credentials;
  /**
   * The nodes' registries.yaml: the credentials in it must be `nodeCredentials`, since the nodes pull with them.
   * @default - none: only the htpasswd is checked
   */
  readonly registries?: RegistriesConfig;
}

/** Props of RegistryAuth: give exactly one of `material`, `users` or `htpasswd`. */
export interface RegistryAuthProps {
  /**
   * The material's htpasswd and node credentials, checked against each other and its registries.yaml.
   * @default - none; give `material`, `users` or `htpasswd`
   */
  readonly material?: RegistryAuthMaterial;
  /**
   * Users to hash into the htpasswd at synth time. bcrypt salts are random, so prefer `htpasswd` where
   * the output must be byte-identical (snapshot tests, GitOps).
   * @default - none; give `material`, `users` or `htpasswd`
   */
  readonly users?: readonly Credentials[];
  /**
   * A ready htpasswd file (bcrypt lines), e.g. the material directory's `auth/htpasswd`.
   * @default - none; give `material`, `users` or `htpasswd`
   */
  readonly htpasswd?: string;
  /**
   * The user the nodes pull with (written into registries.yaml). Checked against the htpasswd.
   * @default - the first of `users`; the material's; required with `htpasswd`
   */
  readonly nodeCredentials?: Credentials;
  /** @default 4 (see DEFAULT_BCRYPT_COST) */
  readonly bcryptCost?: number;
  /** @default 'container-registry-htpasswd' */
  readonly secretName?: string;
  /** @default 'container-registry' */
  readonly realm?: string;
  /** Source of bcrypt salts. @default - the operating system's CSPRNG */
  readonly random?: RandomSource;
}

/**
 * The registry's users: an htpasswd (bcrypt) in a Secret of the enclosing chart's namespace, and the
 * credentials the nodes use in registries.yaml. Refuses node credentials the htpasswd does not accept, or
 * that are not the ones the material's registries.yaml gives the nodes.
 */
export class RegistryAuth extends Construct implements IRegistryAuth {
  public readonly secretName: string;
  public readonly htpasswdKey = 'htpasswd';
  public readonly realm: string;
  public readonly nodeCredentials: Credentials;
  public readonly htpasswd: string;
  public readonly secret: k8s.KubeSecret;

  constructor(scope: Construct, id: string, props: RegistryAuthProps = {}) {
    super(scope, id);
    this.secretName = props.secretName ?? registrySecretNames().htpasswd;
    this.realm = props.realm ?? 'container-registry';
    assertDnsLabel('secretName', this.secretName);
    const bcryptCost = props.bcryptCost ?? DEFAULT_BCRYPT_COST;
    validateBcryptCost(bcryptCost);

    const sources = (['material', 'users', 'htpasswd'] as const).filter((source) => props[source] !== undefined);
    if (sources.length !== 1) {
      throw new ValidationError(
        `RegistryAuth needs exactly one of 'material', 'users' or 'htpasswd', got ${sources.length === 0 ? 'none' : sources.map((source) => `'${source}'`).join(' and ')}: pass the material (readMaterial()), users to hash, or a ready htpasswd`,
      );
    }
    if (props.material !== undefined) {
      if (props.nodeCredentials !== undefined) {
        throw new ValidationError(
          `'nodeCredentials' is given with 'material', which has its own: leave 'nodeCredentials' out to use 'material.nodeCredentials'`,
        );
      }
      this.htpasswd = props.material.htpasswd;
      this.nodeCredentials = props.material.nodeCredentials;
      assertNodeCredentialsAgree(this.nodeCredentials, props.material.registries);
    } else if (props.users !== undefined) {
      if (props.users.length === 0)
        throw new ValidationError(`'users' must list at least one user, got []: add { username, password }`);
      this.htpasswd = createHtpasswd(props.users, bcryptCost, props.random);
      this.nodeCredentials = props.nodeCredentials ?? props.users[0];
    } else {
      this.htpasswd = props.htpasswd as string;
      if (props.nodeCredentials === undefined) {
        throw new ValidationError(
          `'nodeCredentials' is required with 'htpasswd': the nodes need a username and password that the htpasswd accepts`,
        );
      }
      this.nodeCredentials = props.nodeCredentials;
    }
    const from = props.material === undefined ? '' : 'material.';
    const entries = parseHtpasswd(
      this.htpasswd,
      props.material === undefined ? "RegistryAuth 'htpasswd'" : "'material.htpasswd'",
    );
    if (entries.length === 0) {
      throw new ValidationError(
        `'${from}htpasswd' has no users: nobody could log in to the registry; give an htpasswd with the nodes' user, or 'users' to make one`,
      );
    }
    if (!verifyPassword(entries, this.nodeCredentials.username, this.nodeCredentials.password)) {
      throw new ValidationError(
        `'${from}nodeCredentials' for user ${JSON.stringify(this.nodeCredentials.username)} do not match the htpasswd: the nodes could not pull; give that user's password or add the user`,
      );
    }

    this.secret = new k8s.KubeSecret(this, 'Secret', {
      metadata: { name: this.secretName },
      type: 'Opaque',
      data: { [this.htpasswdKey]: Buffer.from(this.htpasswd).toString('base64') },
    });
  }

  /** The k3s registries.yaml that lets the nodes pull with `nodeCredentials`. */
  public registriesYaml(options: Omit<NodeRegistryOptions, 'credentials'>): string {
    return renderRegistriesYaml(nodeRegistriesConfig({ ...options, credentials: this.nodeCredentials }));
  }
}
