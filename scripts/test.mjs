// `npm test`: build, then run every vitest project with a JSON report beside the console
// output, then print the plain `N passed, N failed` line that CI reads.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const reportPath = '.vitest-report.json';

function run(command, args) {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

// System packages the tests need (design.md §9): installed with apt-get when we may, otherwise
// we stop at once with the exact command to run. Nothing is skipped quietly.
const systemPackages = [
  { command: 'etcd', package: 'etcd-server', why: 'the bench smoke test runs etcd side by side' },
  { command: 'etcdctl', package: 'etcd-client', why: 'the bench talks to etcd' },
  { command: 'chromium', package: 'chromium', why: 'browser tests render the reports', env: 'CHROMIUM_PATH' },
  { command: 'docker-compose', package: 'docker-compose', why: 'a test reads docker-compose.yml with it' },
];

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function ensureSystemPackages() {
  const missing = systemPackages.filter(
    (entry) => !(entry.env && process.env[entry.env]) && !onPath(entry.command),
  );
  if (missing.length === 0) return;
  const names = missing.map((entry) => entry.package).join(' ');
  const isRoot = process.getuid?.() === 0;
  const sudo = !isRoot && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (!isRoot && !sudo) {
    for (const entry of missing) console.error(`missing ${entry.command}: ${entry.why}`);
    console.error(`install them first:  sudo apt-get update && sudo apt-get install -y ${names}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  console.log(`installing ${names} (apt-get)...`);
  const prefix = isRoot ? [] : ['sudo', '-n'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', ...names.split(' ')],
  ]) {
    const command = [...prefix, ...args];
    const result = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env });
    if (result.status !== 0) {
      console.error(`"${command.join(' ')}" failed: install ${names} by hand`);
      console.log('0 passed, 1 failed');
      process.exit(1);
    }
  }
}

ensureSystemPackages();
// The build leaves tests out of dist/; the second pass type-checks them too (vitest does not).
const buildStatus =
  run('npx', ['tsc', '-p', 'tsconfig.json']) || run('npx', ['tsc', '-p', 'tsconfig.test.json']);
if (buildStatus !== 0) {
  console.error('build or type check failed');
  console.log('0 passed, 1 failed');
  process.exit(buildStatus);
}
rmSync(reportPath, { force: true });
const status = run('npx', [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${reportPath}`,
  ...process.argv.slice(2),
]);
if (!existsSync(reportPath)) {
  console.error(`vitest wrote no ${reportPath}`);
  console.log('0 passed, 1 failed');
  process.exit(status || 1);
}
const report = JSON.parse(readFileSync(reportPath, 'utf8'));
// A file that fails to load has no test results but is a failure all the same.
const brokenFiles = report.testResults.filter(
  (file) => file.status === 'failed' && file.assertionResults.length === 0,
);
const failed = report.numFailedTests + brokenFiles.length;
console.log(`${report.numPassedTests} passed, ${failed} failed`);
process.exit(status !== 0 || failed > 0 ? 1 : 0);
