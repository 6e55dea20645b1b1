import type { Step } from '../ops.js';

/** How a step reads in a timeline: `client: write c "ping"`, `wait 300 ms`. */
export function stepText(step: Step): string {
  if (step.actor === undefined) return step.op === 'wait' ? `wait ${step.ms} ms` : `watch ${step.ms} ms (every ${step.everyMs} ms)`;
  const who = `${step.actor}:`;
  switch (step.op) {
    case 'listen':
      return `${who} listen ${step.sock} (backlog ${step.backlog ?? 128}${step.rcvbuf ? `, SO_RCVBUF ${step.rcvbuf}` : ''})`;
    case 'connect':
      return `${who} connect ${step.sock} → ${step.to}${step.delayAck ? ' (TCP_QUICKACK 0: last ACK delayed)' : ''}`;
    case 'connectScan':
      return `${who} ${step.tries} × connect ${step.sock} → 127.0.0.1:(range start + ${step.offset}), no listener`;
    case 'selfConnect':
      return `${who} bind + connect ${step.sock} to its own address`;
    case 'accept':
      return `${who} accept ${step.sock} → ${step.into}`;
    case 'write':
      if (step.defaultSigpipe) return `${who} write ${step.sock} ${JSON.stringify(step.data ?? '')} from a child with SIGPIPE's default disposition`;
      return `${who} ${step.blocking ? 'blocking ' : ''}write ${step.sock} ${step.fill ? 'until the send buffer is full' : step.data !== undefined ? JSON.stringify(step.data) : `${step.bytes} B`}`;
    case 'read':
      return `${who} ${step.peek ? 'peek' : 'read'} ${step.sock}${step.blocking ? ' (blocking)' : step.waitMs ? ` (≤ ${step.waitMs} ms)` : ' (non-blocking)'}`;
    case 'drain':
      return `${who} read ${step.sock} until EAGAIN/EOF`;
    case 'shutdown':
      return `${who} shutdown(${step.sock}, ${step.how})`;
    case 'closeOnEof':
      return `${who} on EOF on ${step.sock}: ${step.write !== undefined ? `write ${JSON.stringify(step.write)}${step.more ? ' (MSG_MORE)' : ''}, then ` : ''}close() at once (armed)`;
    case 'close':
      return `${who} close(${step.sock})`;
    case 'linger':
      return `${who} SO_LINGER ${step.sock} {on, ${step.seconds} s}`;
    case 'quickack':
      return `${who} TCP_QUICKACK ${step.sock} = ${step.on ? 1 : 0}`;
    case 'epoll':
      return `${who} epoll_wait ${step.sock}`;
    case 'info':
      return `${who} TCP_INFO ${step.sock}`;
    case 'soError':
      return `${who} getsockopt(${step.sock}, SO_ERROR)`;
    case 'counters':
      return `${who} read ${step.names.join(', ')}`;
    case 'acceptLoop':
      return `${who} epoll_wait + accept(${step.sock}) loop for ${step.ms} ms`;
    case 'limitFds':
      return `${who} RLIMIT_NOFILE = open + ${step.spare}`;
    case 'unlimitFds':
      return `${who} RLIMIT_NOFILE restored`;
    case 'share':
      return `${who} take a copy of ${step.from}'s ${step.sock} (pidfd_getfd)`;
    case 'exit':
      return `${who} process exits`;
    case 'kill':
      return `${who} killed with ${step.signal}`;
    case 'nodeServe':
      return `${who} node:net server ${step.sock} (${step.behaviour}${step.idleMs ? `, idle ${step.idleMs} ms` : ''})`;
    case 'nodeEvents':
      return `${who} events of ${step.sock}`;
    case 'rpcServe':
      return `${who} rpc server ${step.sock} (answers each call, never one named "hold")`;
    case 'rpcCalls':
      return `${who} rpc client → ${step.to}: ${step.afterEarlier ? 'after the earlier calls settle, ' : ''}${step.methods.join(', ')} at once (until ${step.until} settled)`;
  }
}
