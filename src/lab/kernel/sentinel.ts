/**
 * The namespace sentinel: a process parked in the scenario's network namespace, so the
 * namespace's tables stay readable at /proc/PID/net even when every actor has exited. It enters
 * the namespace named by TT_NETNS and lives until its IPC channel closes — when the lab ends, or
 * dies — so it never outlives the lab.
 */
import { enterNetns } from '../../sys/index.js';

const netns = process.env['TT_NETNS'];
try {
  if (!netns) throw new Error('TT_NETNS is not set');
  enterNetns(netns);
} catch (e) {
  process.stderr.write(`sentinel: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(70);
}
process.on('disconnect', () => process.exit(0));
process.send?.('ready');
