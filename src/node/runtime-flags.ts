// Node's own flags (given before the script) that a raftkv node runs with. The bin's shebang, the
// cluster launcher (so `raftkv cluster`, the tests and the bench), the Dockerfile and the
// Kubernetes manifest pass them; a node started without them says so in its log.
//
// --no-memory-reducer: once a process's allocation rate drops (a quiet spell of a few seconds),
// V8's memory reducer runs up to three full GCs that shrink the heap, and after them a node's
// optimized code is gone: measured on the leader of a 5-node cluster (2026-11-28), the first 10 s
// of 64-client writes after a quiet minute optimized ~170 functions again (~20 with the flag) and
// cost 20-27% more CPU per write than the other windows after the first. A database node that
// waits for its next burst is better off keeping its code and the heap the last burst grew (tens
// of MiB): GCs under load still shrink the heap as usual.
export const nodeRuntimeFlags: readonly string[] = ['--no-memory-reducer'];

/** The flags of nodeRuntimeFlags that `execArgv` (Node's own flags of a process) lacks. */
export function missingRuntimeFlags(execArgv: readonly string[]): string[] {
  return nodeRuntimeFlags.filter((flag) => !execArgv.includes(flag));
}
