/** Machines as the scheduler sees them. Pure data. */
import type { ResourceRequest } from '../units/types';

/** A machine that can run units: its identity, metadata and capacity. */
export interface MachineSpec {
  /** The machine id (32 hex chars from /etc/machine-id, or configured). */
  id: string;
  /** Address other parts reach it at (API / display only). */
  address?: string;
  /** Static (config) and dynamic (API) metadata merged; dynamic wins. */
  metadata: Record<string, string>;
  /** What the machine can give to units. 0 means unknown/unlimited for that resource. */
  capacity: ResourceRequest;
  /**
   * The machine's record is gone but the engine has not seen it die (etcd or the engine's view was away):
   * the units placed on it stay there and it gets no new ones until its agent had time to re-register.
   */
  held?: boolean;
  /** Cordoned (`shoalctl cordon`/`drain`): takes no new units; units already placed there stay unless drained. */
  cordoned?: boolean;
  /**
   * What the machine's agent last measured (load/<machine>): CPU busy and memory in use as fractions 0..1
   * of the machine; absent when it reported none. Read by the `real-load` scorer only.
   */
  load?: { cpu: number; mem: number };
}
