/**
 * Typed errors. Every error shoal raises on purpose is a ShoalError with a stable string `code`
 * and structured fields; library errors are converted at the I/O boundary (etcd, D-Bus, Docker, gRPC).
 * Expected outcomes ("does not fit", "not leader") are return values, not exceptions.
 */

/** Where in a user's input an error was found. All fields optional: say as much as is known. */
export interface SourceLocation {
  file?: string;
  line?: number;
  section?: string;
  key?: string;
}

/** Base class of every deliberate shoal error. */
export class ShoalError extends Error {
  /** Stable machine-readable code, e.g. `unit.bad-name`. */
  readonly code: string;
  /** True when retrying the same operation later may succeed (etcd unreachable, timeout). */
  readonly retryable: boolean;
  readonly location?: SourceLocation;
  readonly details?: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    opts: { retryable?: boolean; location?: SourceLocation; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(formatMessage(message, opts.location), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ShoalError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.location = opts.location;
    this.details = opts.details;
  }
}

/** Bad user input: a unit file, a unit name, a config file, a CLI argument. Never retryable. */
export class ValidationError extends ShoalError {
  constructor(code: string, message: string, location?: SourceLocation, details?: Record<string, unknown>) {
    super(code, message, { location, details });
    this.name = 'ValidationError';
  }
}

/** A dependency (etcd, D-Bus, Docker) could not be reached or timed out; retry with backoff. */
export class UnavailableError extends ShoalError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { retryable: true, cause });
    this.name = 'UnavailableError';
  }
}

/** True when `err` is worth retrying later. */
export function isRetryable(err: unknown): boolean {
  return err instanceof ShoalError && err.retryable;
}

/** `file:line: section.key: message`, with whatever parts are known. */
function formatMessage(message: string, loc?: SourceLocation): string {
  if (!loc) return message;
  const where: string[] = [];
  if (loc.file !== undefined) where.push(loc.line !== undefined ? `${loc.file}:${loc.line}` : loc.file);
  else if (loc.line !== undefined) where.push(`line ${loc.line}`);
  if (loc.key !== undefined) where.push(loc.section ? `[${loc.section}] ${loc.key}` : loc.key);
  else if (loc.section !== undefined) where.push(`[${loc.section}]`);
  return where.length ? `${where.join(': ')}: ${message}` : message;
}
