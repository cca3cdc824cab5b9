/**
 * Who the simulated people are in time (`--heterogeneity`): how fast each device trains and when it is
 * online, drawn per client from heavy-tailed distributions with a seed, as FL deployments report them
 * (Bonawitz et al. 2019: devices differ by an order of magnitude in speed, and are eligible in long,
 * irregular stretches; Papaya, Huba et al. 2022: a heavy tail of slow clients dominates synchronous rounds).
 *
 *   speed           samples a second = 20 / LogNormal(0, 1): median 20 (the digits CNN on a browser's CPU
 *                   backend trains about 14 a second here, on WebGL about 180), 1 in 20 devices over 5× slower,
 *                   1 in 100 over 10×
 *   network         each job also waits LogNormal(ln 1 s, 1) to download the model and send the update
 *   online          stretches of LogNormal(ln 20 min, 1), apart by LogNormal(ln 10 min, 1.5); one client in
 *                   ten is rarely online (apart by LogNormal(ln 6 h, 1))
 *
 * A device keeps training while offline (the page is open, the network is not) and sends its update when it
 * is next online, as the browser's outbox does.
 */
import { createRng } from '../core/rng.ts';

export interface DeviceModel {
  /** Median samples a second. */
  medianSpeed: number;
  /** σ of ln(speed). */
  speedSigma: number;
  medianNetworkS: number;
  networkSigma: number;
  medianOnlineS: number;
  onlineSigma: number;
  medianOfflineS: number;
  offlineSigma: number;
  /** Share of clients that are rarely online, and how long they are away (median). */
  rareShare: number;
  rareOfflineS: number;
}

export const HETEROGENEOUS: DeviceModel = {
  medianSpeed: 20,
  speedSigma: 1,
  medianNetworkS: 1,
  networkSigma: 1,
  medianOnlineS: 20 * 60,
  onlineSigma: 1,
  medianOfflineS: 10 * 60,
  offlineSigma: 1.5,
  rareShare: 0.1,
  rareOfflineS: 6 * 3600,
};

/** Every device alike and always online: the spread of `--heterogeneity` taken away. */
export const UNIFORM: DeviceModel = { ...HETEROGENEOUS, speedSigma: 0, networkSigma: 0, rareShare: 0, medianOfflineS: 0 };

/** One simulated device: its speed, and its online stretches, drawn lazily as simulated time goes on. */
export class Device {
  readonly speed: number;
  private readonly rng: () => number;
  /** Job noise draws from its own stream: how many jobs a mode runs never shifts the device's online stretches. */
  private readonly jobRng: () => number;
  private readonly rare: boolean;
  /** Online stretches [from, to) in seconds, in order; extended as time is asked about. */
  private readonly online: [number, number][] = [];
  private horizon = 0;

  constructor(
    readonly model: DeviceModel,
    seed: number,
  ) {
    this.rng = createRng(seed);
    this.jobRng = createRng(seed ^ 0x2545f491);
    this.speed = model.medianSpeed * Math.exp(-model.speedSigma * this.gauss());
    this.rare = this.rng() < model.rareShare;
    // Start at a random point of the on/off cycle: online with the share of time a device is online.
    const offMedian = this.rare ? model.rareOfflineS : model.medianOfflineS;
    if (offMedian === 0) {
      this.online.push([0, Infinity]);
      this.horizon = Infinity;
    } else {
      const onShare = model.medianOnlineS / (model.medianOnlineS + offMedian);
      this.horizon = this.rng() < onShare ? 0 : this.offline() * this.rng();
    }
  }

  /** Seconds one job takes: the network's share plus `samples` trained at this device's speed. */
  jobSeconds(samples: number): number {
    const network = this.model.medianNetworkS * Math.exp(this.model.networkSigma * this.gauss(this.jobRng));
    return network + samples / this.speed;
  }

  isOnline(t: number): boolean {
    return this.nextOnline(t) === t;
  }

  /** The first moment at or after `t` that the device is online. */
  nextOnline(t: number): number {
    this.extendTo(t);
    for (const [from, to] of this.online) {
      if (t < to) return Math.max(t, from);
    }
    return this.nextOnline(this.horizon);
  }

  private extendTo(t: number): void {
    while (this.horizon <= t) {
      const on = this.model.medianOnlineS * Math.exp(this.model.onlineSigma * this.gauss());
      this.online.push([this.horizon, this.horizon + on]);
      this.horizon += on + this.offline();
    }
    // Stretches long past are dropped (time only moves forward).
    while (this.online.length > 2 && this.online[1]![1] < t) this.online.shift();
  }

  private offline(): number {
    return this.rare ? this.model.rareOfflineS * Math.exp(this.gauss()) : this.model.medianOfflineS * Math.exp(this.model.offlineSigma * this.gauss());
  }

  /** A standard normal draw (Box–Muller). */
  private gauss(rng = this.rng): number {
    const u = Math.max(rng(), Number.MIN_VALUE);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  }
}
