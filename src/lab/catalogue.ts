import type { Scenario } from './scenario.js';
import acceptNeverCalled from './scenarios/accept-never-called.js';
import acceptEmfile from './scenarios/accept-emfile.js';
import nodeAcceptEmfile from './scenarios/node-accept-emfile.js';
import fullBacklog from './scenarios/full-backlog.js';
import closeVsShutdown from './scenarios/close-vs-shutdown.js';
import shutRd from './scenarios/shut-rd.js';
import closeUnreadData from './scenarios/close-unread-data.js';
import closeUnsentData from './scenarios/close-unsent-data.js';
import finOnExitAndKill from './scenarios/fin-on-exit-and-kill.js';
import threeVsFourWay from './scenarios/three-vs-four-way.js';
import blockingWriteRtt from './scenarios/blocking-write-rtt.js';
import nodeServerEof from './scenarios/node-server-eof.js';
import idleReaper from './scenarios/idle-reaper.js';
import sigpipeThenClose from './scenarios/sigpipe-then-close.js';
import nonblockingRead from './scenarios/nonblocking-read.js';
import poolLivenessCheck from './scenarios/pool-liveness-check.js';
import multiplexedEof from './scenarios/multiplexed-eof.js';
import retryOnFreshConnection from './scenarios/retry-on-fresh-connection.js';
import poolLowRate from './scenarios/pool-low-rate.js';
import writeAfterCloseVsShutdown from './scenarios/write-after-close-vs-shutdown.js';
import idleCloseThenWrite from './scenarios/idle-close-then-write.js';
import finWait2ForeverVsTimeout from './scenarios/fin-wait2-forever-vs-timeout.js';
import selfConnect from './scenarios/self-connect.js';
import simultaneousClose from './scenarios/simultaneous-close.js';
import sharedDescriptor from './scenarios/shared-descriptor.js';
import acceptedNeverClosed from './scenarios/accepted-never-closed.js';
import resetArrivals from './scenarios/reset-arrivals.js';
import delayedAckRule from './scenarios/delayed-ack-rule.js';
import selfConnectPorts from './scenarios/self-connect-ports.js';

/** Every scenario of the lab, in the order `teardown lab` runs them. */
export const CATALOGUE: readonly Scenario[] = [
  acceptNeverCalled,
  acceptEmfile,
  nodeAcceptEmfile,
  fullBacklog,
  closeVsShutdown,
  shutRd,
  closeUnreadData,
  closeUnsentData,
  finOnExitAndKill,
  threeVsFourWay,
  blockingWriteRtt,
  nodeServerEof,
  idleReaper,
  sigpipeThenClose,
  nonblockingRead,
  poolLivenessCheck,
  multiplexedEof,
  retryOnFreshConnection,
  poolLowRate,
  writeAfterCloseVsShutdown,
  idleCloseThenWrite,
  finWait2ForeverVsTimeout,
  selfConnect,
  simultaneousClose,
  sharedDescriptor,
  acceptedNeverClosed,
  resetArrivals,
  delayedAckRule,
  selfConnectPorts,
];

/** Scenario by id. */
export function findScenario(id: string): Scenario | undefined {
  return CATALOGUE.find((s) => s.id === id);
}
