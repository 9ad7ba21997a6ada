/**
 * Misspelt systemd sections and keys. systemd only warns about an unknown section or key and ignores it
 * (`Unknown section 'Servce'. Ignoring.`, src/shared/conf-parser.c), so a typo silently drops settings:
 * `[Instal]` never enables the unit, `[Servce]` leaves it with nothing to run. shoal refuses a section
 * name that is a near miss of one systemd reads (an error), and warns about a key that is a near miss of
 * a common one (systemd itself only warns). The key lists are the common keys, not all of systemd's
 * (`systemd --dump-configuration-items` has ~1,200); test/units/systemd-sections.test.ts checks against
 * that dump that every listed key is real and that no real key is taken for a misspelling. Pure.
 */
import { ValidationError } from '../errors';
import { suggest } from './suggest';
import type { UnitFile } from './types';

/** Every section systemd reads in unit files (systemd 252, `systemd --dump-configuration-items`). */
export const SYSTEMD_SECTIONS = ['Unit', 'Install', 'Service', 'Socket', 'Mount', 'Automount', 'Swap', 'Timer', 'Path', 'Slice', 'Scope'] as const;

/** The execution, kill and resource-control keys several unit types share ([Service], [Socket], [Mount], [Swap]). */
const EXEC = [
  'User', 'Group', 'SupplementaryGroups', 'DynamicUser', 'WorkingDirectory', 'RootDirectory', 'Environment', 'EnvironmentFile',
  'PassEnvironment', 'UnsetEnvironment', 'StandardInput', 'StandardOutput', 'StandardError', 'SyslogIdentifier', 'UMask', 'Nice',
  'OOMScoreAdjust', 'LimitNOFILE', 'LimitNPROC', 'LimitCORE', 'LimitMEMLOCK', 'LimitCPU', 'PrivateTmp', 'PrivateDevices',
  'PrivateNetwork', 'ProtectSystem', 'ProtectHome', 'NoNewPrivileges', 'ReadWritePaths', 'ReadOnlyPaths', 'InaccessiblePaths',
  'CapabilityBoundingSet', 'AmbientCapabilities', 'RuntimeDirectory', 'StateDirectory', 'CacheDirectory', 'LogsDirectory',
  'ConfigurationDirectory', 'PAMName', 'TTYPath', 'KillMode', 'KillSignal', 'SendSIGKILL', 'SendSIGHUP', 'FinalKillSignal',
  'TimeoutSec', 'Slice', 'Delegate', 'CPUQuota', 'CPUWeight', 'CPUShares', 'MemoryMax', 'MemoryHigh', 'MemoryLow', 'MemoryMin',
  'MemoryLimit', 'MemorySwapMax', 'TasksMax', 'IOWeight', 'AllowedCPUs', 'DeviceAllow', 'IPAddressAllow', 'IPAddressDeny',
];

/**
 * Common keys of each section: a key outside its list that is a near miss of one in it gets a warning. Old
 * spellings systemd still reads (BindTo, StartLimitInterval) are listed so that they are not taken for typos.
 */
export const COMMON_KEYS: Readonly<Record<string, readonly string[]>> = {
  Unit: [
    'Description', 'Documentation', 'Requires', 'Requisite', 'Wants', 'BindsTo', 'BindTo', 'PartOf', 'Upholds', 'Conflicts', 'Before', 'After',
    'OnFailure', 'OnSuccess', 'SuccessAction', 'FailureAction', 'DefaultDependencies', 'StopWhenUnneeded', 'RefuseManualStart',
    'RefuseManualStop', 'AllowIsolate', 'JobTimeoutSec', 'RequiresMountsFor', 'StartLimitIntervalSec', 'StartLimitInterval', 'StartLimitBurst',
    'StartLimitAction', 'ConditionPathExists', 'ConditionPathIsDirectory', 'ConditionFileNotEmpty', 'ConditionHost',
    'ConditionVirtualization', 'AssertPathExists',
  ],
  Service: [
    'Type', 'ExecStart', 'ExecStartPre', 'ExecStartPost', 'ExecCondition', 'ExecReload', 'ExecStop', 'ExecStopPost',
    'RemainAfterExit', 'GuessMainPID', 'PIDFile', 'BusName', 'Restart', 'RestartSec', 'TimeoutStartSec', 'TimeoutStopSec',
    'TimeoutAbortSec', 'RuntimeMaxSec', 'WatchdogSec', 'SuccessExitStatus', 'RestartPreventExitStatus', 'RestartForceExitStatus',
    'NotifyAccess', 'ExitType', 'Sockets', 'FileDescriptorStoreMax', ...EXEC,
  ],
  Install: ['WantedBy', 'RequiredBy', 'Alias', 'Also', 'DefaultInstance'],
  Socket: [
    'ListenStream', 'ListenDatagram', 'ListenSequentialPacket', 'ListenFIFO', 'ListenNetlink', 'Accept', 'Service', 'BindIPv6Only',
    'Backlog', 'SocketUser', 'SocketGroup', 'SocketMode', 'DirectoryMode', 'MaxConnections', 'MaxConnectionsPerSource', 'ReusePort',
    'FreeBind', 'Mark', 'KeepAlive', 'NoDelay', 'RemoveOnStop', 'Symlinks', 'FileDescriptorName', 'PassCredentials', 'ExecStartPre',
    'ExecStartPost', 'ExecStopPre', 'ExecStopPost', 'TriggerLimitIntervalSec', 'TriggerLimitBurst', ...EXEC,
  ],
  Timer: [
    'OnActiveSec', 'OnBootSec', 'OnStartupSec', 'OnUnitActiveSec', 'OnUnitInactiveSec', 'OnCalendar', 'OnClockChange',
    'OnTimezoneChange', 'AccuracySec', 'RandomizedDelaySec', 'FixedRandomDelay', 'Unit', 'Persistent', 'WakeSystem', 'RemainAfterElapse',
  ],
  Path: ['PathExists', 'PathExistsGlob', 'PathChanged', 'PathModified', 'DirectoryNotEmpty', 'Unit', 'MakeDirectory', 'DirectoryMode', 'TriggerLimitIntervalSec', 'TriggerLimitBurst'],
  Mount: ['What', 'Where', 'Type', 'Options', 'SloppyOptions', 'LazyUnmount', 'ForceUnmount', 'ReadWriteOnly', 'DirectoryMode', ...EXEC],
  Automount: ['Where', 'DirectoryMode', 'TimeoutIdleSec'],
  Swap: ['What', 'Priority', 'Options', ...EXEC],
  Slice: ['Slice', 'Delegate', 'CPUQuota', 'CPUWeight', 'CPUShares', 'MemoryMax', 'MemoryHigh', 'MemoryLow', 'MemoryMin', 'MemoryLimit', 'MemorySwapMax', 'TasksMax', 'IOWeight', 'AllowedCPUs'],
};

/** A warning about a unit file: where, and what (printed as `file:line: [Section] Key: warning: ...`). */
export interface UnitWarning {
  message: string;
  line: number;
  section: string;
  key?: string;
}

/**
 * `[Name]` that misspells a section systemd reads ([Servce], [Instal], [unit]), as a located
 * `unit.bad-section` error with the suggestion; undefined for a known name, an `X-` extension section
 * (systemd ignores those; shoal's own are checked in unit.ts) and a name near nothing.
 */
export function sectionNameProblem(name: string, line: number, file?: string): ValidationError | undefined {
  const known: readonly string[] = SYSTEMD_SECTIONS;
  const trimmed = name.trim();
  if (trimmed.startsWith('X-') || known.includes(name)) return undefined;
  const near = known.includes(trimmed) ? { name: trimmed, caseOnly: false } : suggest(trimmed, known);
  if (!near) return undefined;
  const why = near.name === trimmed ? 'spaces inside the brackets are part of the name'
    : near.caseOnly ? 'section names are case-sensitive' : 'systemd ignores a section of another name, so its settings would be dropped';
  return new ValidationError('unit.bad-section', `unknown section [${name}]; did you mean [${near.name}]? (${why})`, { file, line, section: name }, { suggestion: near.name });
}

/**
 * Warnings for a parsed file: a key in a systemd section that misspells a common key of it
 * (`ExecStrat=` → ExecStart; `execstart=`: keys are case-sensitive), and a section systemd does not
 * know that is no near miss either (it ignores it). `X-` keys and sections are extensions: no warning.
 */
export function unitWarnings(file: UnitFile): UnitWarning[] {
  const out: UnitWarning[] = [];
  for (const s of file.sections) {
    const keys = Object.hasOwn(COMMON_KEYS, s.name) ? COMMON_KEYS[s.name] : undefined; // not [constructor]'s
    if (keys === undefined) {
      if (!s.name.startsWith('X-') && !(SYSTEMD_SECTIONS as readonly string[]).includes(s.name) && !sectionNameProblem(s.name, s.line)) {
        out.push({ line: s.line, section: s.name, message: `unknown section [${s.name}]: systemd ignores it and every setting in it` });
      }
      continue;
    }
    for (const e of s.entries) {
      if (e.key.startsWith('X-') || keys.includes(e.key)) continue;
      const near = suggest(e.key, keys);
      if (!near) continue;
      const why = near.caseOnly ? 'keys are case-sensitive; ' : '';
      out.push({ line: e.line, section: s.name, key: e.key, message: `unknown key; did you mean ${near.name}? (${why}systemd ignores an unknown key)` });
    }
  }
  return out;
}

/** `file:line: [Section] Key: warning: message`, the format of the errors (src/errors.ts). */
export function formatWarning(w: UnitWarning, file: string): string {
  return `${file}:${w.line}: [${w.section}]${w.key === undefined ? '' : ` ${w.key}`}: warning: ${w.message}`;
}
