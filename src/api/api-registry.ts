/** What the API needs from the registry (src/etcd/registry.ts); EtcdRegistry implements all of it. */
import type {
  ClusterReader, CordonStore, GroupStore, JobReader, MachineReader, MetadataWriter, RegistryWatcher, StateReader, UnitBatchWriter, UnitReader, UnitWriter,
} from '../etcd/registry';

/** Reads, API writes and watches: everything the API server touches in etcd. */
export interface ApiRegistry
  extends UnitReader, UnitWriter, UnitBatchWriter, MachineReader, StateReader, MetadataWriter, RegistryWatcher, ClusterReader, GroupStore, CordonStore, JobReader {}
