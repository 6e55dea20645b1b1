/**
 * The socket doctor: finds a live machine's TCP teardown problems (CLOSE_WAIT leaks, connections
 * never accepted, half-closes waiting for ever, TIME_WAIT eating the ephemeral ports, SYN_RECV
 * floods, orphans, listen overflows and resets) and explains each with its evidence, the seed
 * claim it rests on and one sentence of advice. Also: an ss-like socket list, a watch with
 * trends, and a Prometheus exporter.
 *
 * Reading is separate from judging: {@link takeSnapshot} and {@link readKernelState} read the
 * kernel; {@link diagnose} is a pure function of what they read, so it runs on fixtures.
 */
export { takeSnapshot, type DoctorSnapshot, type SnapshotOptions } from './snapshot.js';
export { ownerProcess, ownerRef, UNREADABLE, type DoctorOwner, type DoctorSocket, type ProcessOrUnknown } from './socket.js';
export { addressMatcher, parseAddressFilter, type AddressFilter } from './filters.js';
export { listNetNamespaces, type NetNamespace, type NetNamespaceList } from './namespaces.js';
export { readKernelState, type DoctorSysctls, type KernelState, type ReadKernelStateOptions, type Unreadable } from './kernel.js';
export { counterKey, counterValues, KERNEL_COUNTERS, type CounterGroup, type KernelCounter } from './counters.js';
export { parseStateName, resolveStates, SS_DEFAULT_STATES, STATE_GROUPS, stateNames, type StateGroup } from './states.js';
export {
  DEFAULT_THRESHOLDS,
  diagnose,
  exitCodeFor,
  processText,
  SEVERITIES,
  type AcceptQueueEvidence,
  type CloseWaitGrowingEvidence,
  type CloseWaitLeakEvidence,
  type CloseWaitOwnerUnknownEvidence,
  type DiagnoseInput,
  type DoctorThresholds,
  type Finding,
  type FindingId,
  type FinWait1SendQEvidence,
  type FinWait2HeldEvidence,
  type FinWait2OrphansEvidence,
  type KernelCountersEvidence,
  type NeverAcceptedEvidence,
  type OrphansEvidence,
  type Severity,
  type SynRecvFloodEvidence,
  type TeardownPairEvidence,
  type TimeWaitPortsEvidence,
} from './findings.js';
export {
  ageKey,
  AGED_STATES,
  DoctorWatch,
  isGrowing,
  type CloseWaitTrend,
  type CounterRate,
  type DoctorWatchOptions,
  type ProcessRef,
  type StateEntries,
  type WatchSample,
  type WatchView,
} from './watch.js';
export { buildReport, readOtherKernels, runDoctor, stateCounts, type DoctorOptions, type DoctorReport, type WatchSummary } from './doctor.js';
export {
  evidenceText,
  NO_PAINT,
  ownerCell,
  renderFinding,
  renderReport,
  renderSockets,
  timerText,
  type Paint,
  type RenderReportOptions,
  type RenderSocketsOptions,
} from './render.js';
export {
  createExporter,
  DEFAULT_EXPORTER_PORT,
  METRIC_PREFIX,
  OTHER,
  startExporter,
  topN,
  type ExporterOptions,
  type ExporterScan,
  type LabelledValue,
  type RunningExporter,
  type StartExporterOptions,
} from './exporter.js';
