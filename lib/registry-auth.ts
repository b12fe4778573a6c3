import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import { DEFAULT_BCRYPT_COST, registrySecretNames } from './defaults';
import { type Credentials, createHtpasswd, parseHtpasswd, validateBcryptCost, verifyPassword } from './htpasswd';
import type { RandomSource } from './random';
import { type NodeRegistryOptions, nodeRegistriesConfig, renderRegistriesYaml } from './registries-yaml';
import { ValidationError, assertDnsLabel } from './validate';

/** What the registry Deployment needs to know about its htpasswd Secret. */
export interface IRegistryAuth {
  readonly secretName: string;
  /** The key in the Secret that holds the htpasswd file. */
  readonly htpasswdKey: string;
  readonly realm: string;
}

export interface RegistryAuthProps {
  /**
   * Users to hash into the htpasswd at synth time. bcrypt salts are random, so prefer `htpasswd` where
   * the output must be byte-identical (snapshot tests, GitOps).
   * @default - none; give `users` or `htpasswd`
   */
  readonly users?: readonly Credentials[];
  /**
   * A ready htpasswd file (bcrypt lines), e.g. the material directory's `auth/htpasswd`.
   * @default - none; give `users` or `htpasswd`
   */
  readonly htpasswd?: string;
  /**
   * The user the nodes pull with (written into registries.yaml). Checked against the htpasswd.
   * @default - the first of `users`; required with `htpasswd`
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
 * credentials the nodes use in registries.yaml.
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

    if ((props.users === undefined) === (props.htpasswd === undefined)) {
      throw new ValidationError(
        `RegistryAuth needs exactly one of 'users' or 'htpasswd', got ${props.users === undefined ? 'neither' : 'both'}: pass users to hash, or a ready htpasswd`,
      );
    }
    if (props.users !== undefined) {
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
    const entries = parseHtpasswd(this.htpasswd, "RegistryAuth 'htpasswd'");
    if (!verifyPassword(entries, this.nodeCredentials.username, this.nodeCredentials.password)) {
      throw new ValidationError(
        `'nodeCredentials' for user ${JSON.stringify(this.nodeCredentials.username)} do not match the htpasswd: the nodes could not pull; give that user's password or add the user`,
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
