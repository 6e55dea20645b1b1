import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { createTcpDecoder, parseEventFormat, parseEventHeader, parsePageHeader, pageLayout, type EventFormat, type PageLayout, type TcpTracepoint } from '../../src/trace/index.js';

/** test/fixtures/tracefs, found from dist/test/trace/ (fixtures are not copied into dist). */
export const TRACEFS_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/tracefs/', import.meta.url));

export function fixtureText(p: string): string {
  return readFileSync(`${TRACEFS_FIXTURES}${p}`, 'utf8');
}

/** What capture.mjs noted of its scenario (from the sockets, not from the trace). */
export interface CaptureMeta {
  serverPort: number;
  clientPort: number;
  clientError: string;
  pages: string[];
  kernel: string;
}

export function captureMeta(): CaptureMeta {
  return JSON.parse(fixtureText('meta.json')) as CaptureMeta;
}

export function capturedPages(): { cpu: number; page: Buffer }[] {
  return captureMeta().pages.map((name) => ({ cpu: Number(/^cpu(\d+)/.exec(name)?.[1]), page: readFileSync(`${TRACEFS_FIXTURES}${name}`) }));
}

export function capturedLayout(): PageLayout {
  return pageLayout(parsePageHeader(fixtureText('header_page')), parseEventHeader(fixtureText('header_event')));
}

export function capturedFormats(): Record<TcpTracepoint, EventFormat> {
  const f = (n: string): EventFormat => parseEventFormat(fixtureText(`formats/${n}.format`), n);
  return {
    inet_sock_set_state: f('inet_sock_set_state'),
    tcp_send_reset: f('tcp_send_reset'),
    tcp_receive_reset: f('tcp_receive_reset'),
    inet_sk_error_report: f('inet_sk_error_report'),
  };
}

export function capturedDecoder(): ReturnType<typeof createTcpDecoder> {
  return createTcpDecoder(capturedFormats());
}
