/**
 * A throwaway child of a lab peer: writes argv[2] to the socket it inherited as descriptor 3 with
 * SIGPIPE's default disposition, as a C program would. When the write raises SIGPIPE the kernel
 * kills this process, and the parent sees it die of the signal (seed 004-h); otherwise it exits 0
 * (the write succeeded) or 1 (it failed, errno on stderr).
 */
import { defaultSigpipe, sendRaw } from '../../sys/index.js';

defaultSigpipe();
const r = sendRaw(3, Buffer.from(process.argv[2] ?? 'x'), 0);
if (!r.ok) process.stderr.write(r.errno);
process.exit(r.ok ? 0 : 1);
