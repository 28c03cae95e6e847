export { type Chain, type ChainNode, type ChainRoot, chain, chainAt } from "./chain.js";
export { CodecError, decode, encode } from "./codec.js";
export { type DurableStore, type DurableStoreOptions, durableStore } from "./durable-store.js";
export { sortableId } from "./id.js";
export {
  type KvPutOptions,
  type KvStore,
  type KvStoreOptions,
  type KvUpdateOptions,
  kvStore,
  VersionConflictError,
} from "./kv-store.js";
export { KV_FLUSH_INTERVAL_MS, KV_WRITER_BINDING, KV_WRITER_CLASS, KvWriter } from "./kv-writer.js";
export { type ListOptions, type ListPage, type PutOptions, type Store, unchanged } from "./store.js";
