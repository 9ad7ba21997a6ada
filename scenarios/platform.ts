/**
 * Where the scenarios run, behind one small interface: the local nspawn testbed
 * (platform-testbed.ts) or the Vagrant VMs (platform-vagrant.ts). Fault injectors and the
 * `exec` that reads the truth (systemctl) inside a node. Every method throws when it cannot do
 * what it says; none of them waits for the cluster to react (the scenarios do that).
 */

import type { EtcdTls } from '../src/etcd/client';

/** What a command run inside a node printed, and its exit code. */
export interface NodeExec {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of `startNode`. */
export interface StartOptions {
  /** Boot the node with this machine id instead of its own (the duplicate-id scenario). */
  machineId?: string;
}

/** One platform's fault injectors and probes. */
export interface Platform {
  /** 'testbed' or 'vagrant'. */
  readonly name: string;
  /** The nodes of the base cluster (3). */
  readonly nodes: string[];
  /** A node that is not part of the base cluster and may join later; null when there is none. */
  readonly spare: string | null;
  /** etcd client URLs as seen from where the scenarios run. */
  readonly etcdEndpoints: string[];
  /** etcd's CA and the client certificate (PEM paths), when etcd serves TLS. */
  readonly etcdTls?: EtcdTls;
  /** The scenario client's deadline per etcd call, ms (default 3000; emulated VMs need more). */
  readonly etcdCallTimeoutMs?: number;
  /** etcd's members by name (etcd1..etcdN) when single members can be acted on (see etcdMember). */
  readonly etcdMembers?: string[];
  /** The machine/engine lease TTL the cluster runs with, in seconds. */
  readonly ttlSeconds: number;
  /**
   * How much slower than the testbed the platform's machines are (default 1): every settle deadline of
   * a scenario is multiplied by it. Recovery times are reported as measured.
   */
  readonly timeScale?: number;

  /** Brings the cluster up from a clean state: etcd, the base nodes, shoald registered on each. */
  up(): Promise<void>;
  /** Removes everything `up` and the scenarios started. Idempotent. */
  down(): Promise<void>;

  /** Runs `cmd` inside `node`; resolves with its exit code (rejects only when it cannot run at all). */
  exec(node: string, cmd: string[]): Promise<NodeExec>;
  /** True when `node` is running (booted, not killed or powered off). */
  isRunning(node: string): Promise<boolean>;
  /** The machine id `node` registers with (its own, not an override). */
  machineId(node: string): Promise<string>;
  /** The node's shoald log (its journal for shoald.service); `timestamps`: each line with its journal time (µs). */
  shoaldLog(node: string, opts?: { timestamps?: boolean }): Promise<string>;

  /** Boots `node` (again), shoald included; resolves once it has booted (not once registered). */
  startNode(node: string, opts?: StartOptions): Promise<void>;
  /** Abrupt death: no shutdown, no lease revoke. */
  killNode(node: string): Promise<void>;
  /** Clean poweroff: systemd stops everything, shoald included. */
  poweroffNode(node: string): Promise<void>;
  /** Undoes what startNode with options left behind (e.g. a borrowed machine id); node must be off. */
  forgetNode(node: string): Promise<void>;
  /** Freezes the whole node (every process, shoald and units alike), like a suspended VM. */
  freezeNode(node: string): Promise<void>;
  /** Thaws a frozen node: it resumes where it stopped. */
  thawNode(node: string): Promise<void>;
  /** Cuts the node off the cluster network (etcd and the other nodes); the node keeps running. */
  cutNode(node: string): Promise<void>;
  /** Reconnects a cut node; resolves once it reaches etcd again. */
  healNode(node: string): Promise<void>;

  /** SIGKILL to every shoald process of `node` (systemd restarts it per Restart=). */
  killShoald(node: string): Promise<void>;
  /** SIGSTOP to shoald on `node`. */
  pauseShoald(node: string): Promise<void>;
  /** SIGCONT to shoald on `node`. */
  resumeShoald(node: string): Promise<void>;
  /** `systemctl restart shoald` on `node`. */
  restartShoald(node: string): Promise<void>;

  /** Stops etcd (every member) and starts it again with its data; resolves once healthy. */
  restartEtcd(): Promise<void>;
  /** SIGSTOP to etcd (every member): clients see it unreachable. */
  pauseEtcd(): Promise<void>;
  /** SIGCONT to etcd; resolves once healthy. */
  resumeEtcd(): Promise<void>;
  /**
   * One etcd member: kill (SIGKILL), start (on its data; resolves once healthy), pause / resume
   * (SIGSTOP / SIGCONT), replace (etcdctl member remove, then member add of a new member with an
   * empty data dir at its address; resolves once healthy). Only where `etcdMembers` is set.
   */
  etcdMember?(action: 'kill' | 'start' | 'pause' | 'resume' | 'replace', member: string): Promise<void>;
  /** The etcd member that leads now, or null when there is none (no quorum). */
  etcdLeader?(): Promise<string | null>;

  /** Stops the etcd member on `node` (the other members keep the quorum); absent: the platform has no per-node member. */
  stopEtcdMember?(node: string): Promise<void>;
  /** Starts the etcd member on `node` again; resolves once every member is healthy. */
  startEtcdMember?(node: string): Promise<void>;

  /** SIGSTOP to the container engine the nodes use (absent: the platform cannot; throws: not now). */
  pauseDockerd?(): Promise<void>;
  /** SIGCONT to the container engine. */
  resumeDockerd?(): Promise<void>;
}
