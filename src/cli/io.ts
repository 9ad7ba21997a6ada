/** Where a command writes. Injected so tests drive the program without a terminal. */
export interface CliIO {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  /** Environment variables (SHOAL_ENDPOINT ...). */
  env: Record<string, string | undefined>;
  /** Current directory, for resolving relative file arguments. */
  cwd: string;
}

/** The real process's streams and environment. */
export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}
