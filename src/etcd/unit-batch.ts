/**
 * What one op of a unit batch does, given what is stored: pure, no I/O. registry-etcd.ts reads the
 * keys, asks `decideUnitOp`, and writes the answer under a compare on what it read.
 */
import type { TargetState } from '../units/types';
import type { StoredUnit, UnitBatchOp, UnitBatchOutcome, UnitRecord } from './registry';

/** The writes one op needs: a unit record to put, a desired state to put, or a delete of both. */
export interface UnitOpWrites {
  outcome: UnitBatchOutcome;
  previous: TargetState | null;
  /** Hash stored after the op ('' when none). */
  hash: string;
  putUnit?: UnitRecord;
  putDesired?: TargetState;
  destroy?: boolean;
}

/** The name an op is about. */
export function opName(op: UnitBatchOp): string {
  return op.kind === 'submit' ? op.unit.name : op.name;
}

/** Decides one op against the stored unit `seen`. */
export function decideUnitOp(op: UnitBatchOp, seen: StoredUnit): UnitOpWrites {
  const previous = seen.unit ? seen.desired : null;
  const hash = seen.unit?.hash ?? '';
  switch (op.kind) {
    case 'submit': {
      const putDesired = op.desired !== undefined && op.desired !== previous ? op.desired : undefined;
      if (!seen.unit) return { outcome: 'created', previous, hash: op.unit.hash, putUnit: op.unit, putDesired: op.desired };
      if (seen.unit.hash === op.unit.hash) return { outcome: 'unchanged', previous, hash, putDesired };
      if (!op.replace) return { outcome: 'exists', previous, hash };
      return { outcome: 'replaced', previous, hash: op.unit.hash, putUnit: op.unit, putDesired };
    }
    case 'desired': {
      if (!seen.unit) {
        if (!op.orCreate) return { outcome: 'not-found', previous, hash };
        return { outcome: 'created', previous, hash: op.orCreate.hash, putUnit: op.orCreate, putDesired: op.state };
      }
      if (op.skipFrom?.includes(previous ?? 'inactive')) return { outcome: 'skipped', previous, hash };
      return { outcome: 'set', previous, hash, putDesired: previous === op.state ? undefined : op.state };
    }
    case 'destroy':
      if (!seen.unit) return { outcome: 'not-found', previous, hash };
      return { outcome: 'destroyed', previous, hash: '', destroy: true };
  }
}
