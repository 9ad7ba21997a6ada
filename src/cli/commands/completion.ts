/** `shoalctl completion bash|zsh`: a shell completion script, generated from the program's verbs and options. */
import type { Command } from 'commander';
import { CliError, EXIT_USAGE } from '../cli-error';
import type { CliIO } from '../io';

/** Verbs whose arguments are submitted unit names (completed from list-unit-files). */
const UNIT_VERBS = ['start', 'stop', 'load', 'unload', 'destroy', 'restart', 'status', 'journal', 'cat', 'explain', 'list-units'];

function flagsOf(cmd: Command): string[] {
  return cmd.options.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f));
}

/** The bash script: verbs, each verb's flags, unit names from the cluster, files for submit/start/load. */
export function bashCompletion(program: Command): string {
  const verbs = program.commands.map((c) => c.name());
  const cases = program.commands.map((c) => `    ${c.name()}) flags="${[...flagsOf(c), '--help'].join(' ')}" ;;`).join('\n');
  return `# shoalctl bash completion: source <(shoalctl completion bash)
_shoalctl() {
  local cur verb flags i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  verb=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) verb="\${COMP_WORDS[i]}"; break ;; esac
  done
  if [[ -z "$verb" ]]; then
    COMPREPLY=($(compgen -W "${verbs.join(' ')} ${flagsOf(program).join(' ')}" -- "$cur"))
    return
  fi
  case "$verb" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$flags" -- "$cur")); return; fi
  case "$verb" in
    ${UNIT_VERBS.join('|')})
      COMPREPLY=($(compgen -W "$(shoalctl list-unit-files --no-legend --fields unit 2>/dev/null)" -- "$cur")) ;;
  esac
  case "$verb" in submit|start|load|verify|plan) COMPREPLY+=($(compgen -f -- "$cur")) ;; esac
}
complete -o filenames -F _shoalctl shoalctl
`;
}

/** The zsh script (bash completion through bashcompinit keeps one source of truth). */
export function zshCompletion(program: Command): string {
  return `#compdef shoalctl
# shoalctl zsh completion: source <(shoalctl completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program)}`;
}

/** Adds `completion` to the program. */
export function registerCompletion(program: Command, io: CliIO): void {
  program
    .command('completion')
    .description('Print a shell completion script (bash or zsh)')
    .argument('<shell>', 'bash or zsh')
    .addHelpText('after', '\nExamples:\n  source <(shoalctl completion bash)\n  shoalctl completion zsh > "${fpath[1]}/_shoalctl"')
    .action((shell: string) => {
      if (shell === 'bash') io.stdout.write(bashCompletion(program));
      else if (shell === 'zsh') io.stdout.write(zshCompletion(program));
      else throw new CliError(`unknown shell ${JSON.stringify(shell)}: use bash or zsh`, EXIT_USAGE);
    });
}
