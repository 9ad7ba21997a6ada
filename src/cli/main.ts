/** Entry point of bin/shoalctl. */
import { runCli } from './program';
import { processIO } from './io';

runCli(process.argv.slice(2), processIO()).then((code) => {
  process.exitCode = code;
});
