/**
 * The error boundary of the API: ShoalError codes → gRPC status codes on the server, and back to
 * typed ShoalErrors in the client. The ShoalError code travels in the `shoal-code` trailer.
 */
import * as grpc from '@grpc/grpc-js';
import { ShoalError, UnavailableError, ValidationError } from '../errors';

const CODE_KEY = 'shoal-code';

/** A unit, machine or metadata key that does not exist (→ NOT_FOUND). Code ends in `.not-found`. */
export class NotFoundError extends ShoalError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'NotFoundError';
  }
}

/** A request that conflicts with what is stored (→ ALREADY_EXISTS when code ends in `.exists`, else FAILED_PRECONDITION). */
export class ConflictError extends ShoalError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ConflictError';
  }
}

/** A caller without valid credentials (→ UNAUTHENTICATED). */
export class AuthError extends ShoalError {
  constructor(message: string) {
    super('api.unauthenticated', message);
    this.name = 'AuthError';
  }
}

/** A caller whose role may not make this call (→ PERMISSION_DENIED). */
export class PermissionError extends ShoalError {
  constructor(message: string) {
    super('api.forbidden', message);
    this.name = 'PermissionError';
  }
}

/** The gRPC status code for `err`. */
export function grpcStatusOf(err: unknown): grpc.status {
  if (err instanceof ValidationError) return grpc.status.INVALID_ARGUMENT;
  if (err instanceof UnavailableError) return grpc.status.UNAVAILABLE;
  if (err instanceof NotFoundError) return grpc.status.NOT_FOUND;
  if (err instanceof AuthError) return grpc.status.UNAUTHENTICATED;
  if (err instanceof PermissionError) return grpc.status.PERMISSION_DENIED;
  if (err instanceof ConflictError) return err.code.endsWith('.exists') ? grpc.status.ALREADY_EXISTS : grpc.status.FAILED_PRECONDITION;
  if (err instanceof ShoalError && err.retryable) return grpc.status.UNAVAILABLE;
  return grpc.status.INTERNAL;
}

/** `err` as a grpc-js service error (code, message, `shoal-code` trailer). */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> & Error {
  const metadata = new grpc.Metadata();
  const code = err instanceof ShoalError ? err.code : 'api.internal';
  metadata.set(CODE_KEY, code);
  const message = err instanceof Error ? err.message : String(err);
  return Object.assign(new Error(message), { code: grpcStatusOf(err), details: message, metadata });
}

/** A grpc-js client error → the typed ShoalError the server meant (or UnavailableError for transport trouble). */
export function fromServiceError(err: unknown, endpoint: string): ShoalError {
  if (err instanceof ShoalError) return err;
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e?.code !== 'number') return new ShoalError('api.internal', err instanceof Error ? err.message : String(err));
  const code = String(e.metadata?.get(CODE_KEY)?.[0] ?? '') || undefined;
  // grpc-js ends a connection error with an empty "Resolution note: " when its resolver has nothing to add
  const msg = (e.details || e.message || 'unknown error').replace(/\s*Resolution note:\s*$/, '');
  switch (e.code) {
    case grpc.status.INVALID_ARGUMENT: return new ValidationError(code ?? 'api.invalid-argument', msg);
    case grpc.status.NOT_FOUND: return new NotFoundError(code ?? 'api.not-found', msg);
    case grpc.status.ALREADY_EXISTS:
    case grpc.status.FAILED_PRECONDITION: return new ConflictError(code ?? 'api.conflict', msg);
    case grpc.status.UNAUTHENTICATED: return new AuthError(msg);
    case grpc.status.PERMISSION_DENIED: return new PermissionError(msg);
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      // the server's own dependency failed (etcd): say whose, so it is not taken for the CLI's connection
      if (code?.startsWith('etcd.')) return new UnavailableError(code, /^cannot reach/.test(msg) ? `shoald ${msg}` : `shoald: ${msg}`, err);
      return new UnavailableError(code ?? 'api.unavailable', code ? msg : `cannot reach shoald at ${endpoint}: ${msg}`, err);
    default: return new ShoalError(code ?? 'api.internal', msg);
  }
}
