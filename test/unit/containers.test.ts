// The container files (design.md §10): docker-compose.yml as docker-compose itself reads it, the
// Dockerfile's shape, and the Kubernetes manifests checked against the Kubernetes schemas
// (kubernetes-models) and against each other.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseMembers } from '../../src/node/members.js';
import { nodeRuntimeFlags } from '../../src/node/runtime-flags.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const kubernetesDir = join(repoRoot, 'deploy/kubernetes');
const nodeIds = [1, 2, 3, 4, 5];

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, checked field by field below
type Parsed = any;

function composeConfig(): Parsed {
  const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (result.error) {
    throw new Error(
      `docker-compose is needed (${result.error.message}): install it with "sudo apt-get update && sudo apt-get install -y docker-compose"`,
    );
  }
  if (result.status !== 0) throw new Error(`docker-compose config failed:\n${result.stderr}`);
  return parse(result.stdout);
}

/** The value after `flag` in a command line given as a list. */
function flagValue(command: readonly string[], flag: string): string | undefined {
  const at = command.indexOf(flag);
  return at < 0 ? undefined : command[at + 1];
}

describe('docker-compose.yml', () => {
  // Read inside each test, so a missing docker-compose fails the tests rather than skipping them.
  let parsed: Parsed;
  const config = () => {
    parsed ??= composeConfig();
    return parsed;
  };

  it('has five nodes that name each other by service, each on a named volume and a published port', () => {
    const { services, volumes } = config();
    expect(Object.keys(services).sort()).toEqual(nodeIds.map((id) => `raftkv${id}`));
    expect(Object.keys(volumes).sort()).toEqual(nodeIds.map((id) => `raftkv${id}-data`));
    for (const id of nodeIds) {
      const service = services[`raftkv${id}`];
      const command = service.command as string[];
      expect(flagValue(command, '--id')).toBe(String(id));
      expect(flagValue(command, '--listen-host')).toBe('0.0.0.0');
      expect(flagValue(command, '--data-dir')).toBe('/data');
      const members = parseMembers(flagValue(command, '--members') ?? '');
      expect(members.map((m) => `${m.id}=${m.host}`)).toEqual(nodeIds.map((n) => `${n}=raftkv${n}`));
      expect(service.volumes).toContain(`raftkv${id}-data:/data:rw`);
      expect(service.ports).toEqual([{ published: 7000 + id, target: 7001 }]);
      expect(service.healthcheck.test.join(' ')).toContain('/healthz');
    }
  });

  it('has no node wait for another to be healthy (they need each other to become ready)', () => {
    for (const service of Object.values(config().services) as Parsed[]) {
      const dependsOn = service.depends_on ?? {};
      const conditions = Array.isArray(dependsOn)
        ? []
        : Object.values(dependsOn).map((d: Parsed) => d.condition);
      expect(conditions).not.toContain('service_healthy');
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const instructions = dockerfile.split('\n').filter((line) => /^[A-Z]+ /.test(line));

  it('builds in one stage and runs production dependencies only, as a non-root user, on a volume', () => {
    expect(instructions.filter((line) => line.startsWith('FROM '))).toHaveLength(2);
    expect(dockerfile).toMatch(/^RUN npm ci --ignore-scripts$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist/m);
    const user = instructions.filter((line) => line.startsWith('USER ')).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/root|USER 0/);
    expect(dockerfile).toMatch(/^VOLUME \["\/data"\]$/m);
  });

  it('checks liveness on /healthz, not /readyz', () => {
    const healthcheck = dockerfile.slice(dockerfile.indexOf('HEALTHCHECK'));
    const command = healthcheck.slice(0, healthcheck.indexOf('\n', healthcheck.indexOf('CMD')));
    expect(command).toContain('/healthz');
    expect(command).not.toContain('/readyz');
  });

  it("runs the bin with Node's flags for a raftkv node (src/node/runtime-flags.ts)", () => {
    const entrypoint = instructions.find((line) => line.startsWith('ENTRYPOINT '));
    expect(JSON.parse(entrypoint!.slice('ENTRYPOINT '.length))).toEqual([
      'node',
      ...nodeRuntimeFlags,
      'dist/src/cli.js',
    ]);
  });

  it('leaves local build output and data out of the build context', () => {
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n');
    for (const path of ['node_modules', 'dist', 'data', '.git']) expect(ignored).toContain(path);
  });
});

const schemaModels: Record<string, new (data: Parsed) => { validate(): void }> = {
  'apps/v1/StatefulSet': StatefulSet,
  'v1/Service': Service,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function kubernetesObjects(): Parsed[] {
  return readdirSync(kubernetesDir)
    .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(kubernetesDir, file), 'utf8')).map((document) => ({
        ...document.toJS(),
        file,
      })),
    );
}

describe('deploy/kubernetes', () => {
  const objects = kubernetesObjects();
  const only = (kind: string) => objects.filter((object) => object.kind === kind);

  it('holds only objects that the Kubernetes schemas accept, all listed in the kustomization', () => {
    for (const { file, ...object } of objects) {
      const Model = schemaModels[`${object.apiVersion}/${object.kind}`];
      expect(Model, `${file}: ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => new Model!(object).validate(), file).not.toThrow();
    }
    const kustomization = parse(readFileSync(join(kubernetesDir, 'kustomization.yaml'), 'utf8'));
    expect([...kustomization.resources].sort()).toEqual([...new Set(objects.map((o) => o.file))].sort());
  });

  it('starts five pods at once behind a headless Service that publishes them before they are ready', () => {
    const [statefulSet] = only('StatefulSet');
    expect(statefulSet.spec).toMatchObject({ replicas: 5, podManagementPolicy: 'Parallel' });
    const headless = only('Service').find(
      (service) => service.metadata.name === statefulSet.spec.serviceName,
    );
    expect(headless.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    const podLabels = statefulSet.spec.template.metadata.labels;
    expect(podLabels).toMatchObject(statefulSet.spec.selector.matchLabels);
    for (const service of only('Service')) expect(podLabels).toMatchObject(service.spec.selector);
  });

  it('names the pods in --members, listens on every address, probes /readyz and /healthz', () => {
    const [statefulSet] = only('StatefulSet');
    const { name } = statefulSet.metadata;
    const container = statefulSet.spec.template.spec.containers[0];
    const members = parseMembers(container.env.find((env: Parsed) => env.name === 'RAFTKV_MEMBERS').value);
    const ports = Object.fromEntries(container.ports.map((port: Parsed) => [port.name, port.containerPort]));
    expect(members).toEqual(
      nodeIds.map((id) => ({
        id,
        host: `${name}-${id - 1}.${statefulSet.spec.serviceName}`,
        clientPort: ports.client,
        peerPort: ports.peer,
      })),
    );
    expect(container.args.join(' ')).toContain('--listen-host 0.0.0.0');
    expect(container.args.join(' ')).toContain(
      `exec node ${nodeRuntimeFlags.join(' ')} dist/src/cli.js node`,
    );
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'client' });
    expect(container.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'client' });
    const dataClaim = statefulSet.spec.volumeClaimTemplates[0].metadata.name;
    expect(container.volumeMounts).toContainEqual({ name: dataClaim, mountPath: '/data' });
    expect(statefulSet.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
  });

  it('lets at most one pod be disrupted at a time', () => {
    const [budget] = only('PodDisruptionBudget');
    const [statefulSet] = only('StatefulSet');
    expect(budget.spec.maxUnavailable).toBe(1);
    expect(statefulSet.spec.template.metadata.labels).toMatchObject(budget.spec.selector.matchLabels);
  });
});
