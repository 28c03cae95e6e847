export { type Chain, type ChainNode, type ChainRoot, chain, chainAt } from "./chain";
export { CodecError, decode, encode } from "./codec";
export { type DurableStore, type DurableStoreOptions, durableStore } from "./durable-store";
export { sortableId } from "./id";
export {
  type KvPutOptions,
  type KvStore,
  type KvStoreOptions,
  type KvUpdateOptions,
  kvStore,
  VersionConflictError,
} from "./kv-store";
export { KV_FLUSH_INTERVAL_MS, KV_WRITER_BINDING, KV_WRITER_CLASS, KvWriter } from "./kv-writer";
export { type ListOptions, type ListPage, type PutOptions, type Store, unchanged } from "./store";
