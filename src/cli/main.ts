/** Entry point of bin/shoalctl. */
import { runCli } from './program';
import { processIO } from './io';
import { dropIpServerNameWarning } from '../tls-warning';

dropIpServerNameWarning(); // DEP0123 for an API reached by IP address (see tls-warning.ts)

runCli(process.argv.slice(2), processIO()).then((code) => {
  process.exitCode = code;
});
