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

const buildStatus = run('npx', ['tsc', '-p', 'tsconfig.json']);
if (buildStatus !== 0) {
  console.error('build failed');
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
