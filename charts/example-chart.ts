import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import { DEFAULT_NODE_PORT } from '../lib/defaults';

export interface ExampleChartProps {
  /** @default 'localhost:31113/hello-world-example:latest', the name the image was pushed as */
  readonly image?: string;
}

/** The guide's example pod, pulling the pushed image by the very name it was pushed with. */
export class ExampleChart extends Chart {
  constructor(scope: Construct, id: string, props: ExampleChartProps = {}) {
    super(scope, id, { disableResourceNameHashes: true });
    new k8s.KubePod(this, 'Pod', {
      metadata: { name: 'hello-world-example', labels: { 'app.kubernetes.io/name': 'hello-world-example' } },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'hello-world-example',
            image: props.image ?? `localhost:${DEFAULT_NODE_PORT}/hello-world-example:latest`,
            imagePullPolicy: 'Always',
            resources: { limits: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('32Mi') } },
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
          },
        ],
      },
    });
  }
}
