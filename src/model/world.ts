import { Clock } from './clock.js';
import { Host, type HostOptions } from './host.js';
import { Network, type LinkOptions } from './network.js';
import { seededRandom, type Random } from './random.js';

export interface WorldOptions {
  /** Seed of the PRNG behind ISNs, port choice, loss and jitter (default 1). */
  seed?: number;
  /** Or the PRNG itself. */
  random?: Random;
  link?: LinkOptions;
  host?: HostOptions;
}

/**
 * The usual set-up: one clock, one network, one loopback host (127.0.0.1), as the lab's
 * scenarios run inside one network namespace.
 */
export class World {
  readonly clock: Clock;
  readonly network: Network;
  readonly host: Host;
  readonly random: Random;

  constructor(opts: WorldOptions = {}) {
    this.random = opts.random ?? seededRandom(opts.seed ?? 1);
    this.clock = new Clock();
    this.network = new Network(this.clock, this.random, opts.link);
    this.host = new Host(this.network, this.random, opts.host);
  }
}
