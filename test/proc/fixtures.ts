import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/fixtures/proc, found from dist/test/proc/ (fixtures are not copied into dist). */
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/proc/', import.meta.url));

/** The socket endpoints the capture script noted (test/fixtures/proc/basic/manifest.json). */
export interface Manifest {
  pid: number;
  sockets: Record<string, { local: string; remote: string }>;
}

export function manifest(): Manifest {
  return JSON.parse(readFileSync(`${FIXTURES}basic/manifest.json`, 'utf8')) as Manifest;
}

export function fixtureText(path: string): string {
  return readFileSync(`${FIXTURES}${path}`, 'latin1');
}
